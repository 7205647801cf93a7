"""The `vcm` command: a thin click layer that only parses options and calls vcm.pipelines.

Sub-commands live one per module in this package and are imported only when used, so commands that need
no model (`vcm vvc`, `vcm doctor`, `vcm decode`) start fast and never import torch or ultralytics. A module
here must not import torch/ultralytics/timm at module level: import them inside the command function.
"""
from __future__ import annotations

import importlib
import sys

import click

from vcm import __version__
from vcm.errors import VcmError

# command name -> "module:attribute". Add one line per new command.
COMMANDS: dict[str, str] = {
    "doctor": "vcm.cli.doctor:doctor",
    "vvc": "vcm.cli.vvc:vvc",
    "detect": "vcm.cli.detect:detect",
    "map": "vcm.cli.metrics:map_cmd",
    "bdrate": "vcm.cli.metrics:bdrate",
    "encode": "vcm.cli.coding:encode",
    "decode": "vcm.cli.coding:decode",
    "predict": "vcm.cli.coding:predict",
    "train": "vcm.cli.jrd:train",
    "jrd-eval": "vcm.cli.jrd:jrd_eval",
    "jrd-score": "vcm.cli.jrd:jrd_score",
    "label": "vcm.cli.label:label",
    "benchmark": "vcm.cli.benchmark:benchmark",
    "batch": "vcm.cli.batch:batch",
    "weights": "vcm.cli.weights:weights",
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when that command is listed or run."""

    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:  # command not built yet: hide it rather than break `vcm --help`
            if e.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VcmError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except ModuleNotFoundError as e:  # a heavy library of an extra the light install left out
            from vcm.extras import EXTRA_OF, install_line

            top = (e.name or "").split(".")[0]
            if top not in EXTRA_OF:
                raise
            err = VcmError(f"this command needs {top}, which the light install of vcm leaves out",
                           fix=install_line(EXTRA_OF[top]))
            click.echo(f"Error: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", "-V", prog_name="vcm")
def main():
    """vcm: code pictures and video for machines.

    For every object a detector finds, vcm predicts its Just Recognizable Difference (JRD): the coarsest
    VVC QP at which the detector still recognises it. It codes each object at that QP and the background
    far coarser, and proves the saving against plain VVC with detection mAP and BD-rate.

    \b
    Start here:
      vcm doctor                              what encoders, decoders and models are usable
      vcm encode bus.jpg -o bus.266           JRD-guided coding of one picture
      vcm decode bus.266 -o bus.png           back to a picture
      vcm vvc encode bus.jpg -q 37 -o a.266   plain VVC, the anchor
    """
