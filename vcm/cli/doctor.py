"""`vcm doctor`: what is usable on this machine. Imports no torch (asks a subprocess instead)."""
from __future__ import annotations

import click

from vcm.cli.options import emit, json_option


@click.command()
@json_option("the findings")
def doctor(json_path):
    """Show which VVC encoders/decoders, torch devices, detector weights and photo data sets are usable.

    Each missing part names what adds it (the fetch command, the variable to set, the option to use instead).

    \b
    Example:
      vcm doctor
      vcm doctor --json -      the findings as JSON on stdout
    Exit code 0 when at least one VVC encoder and one decoder really code and decode a
    test picture here, 1 otherwise.
    """
    import sys

    from vcm.pipelines.doctor import diagnose, format_doctor

    report = diagnose()
    emit(json_path, report.to_json(), format_doctor(report))
    sys.exit(0 if report.vvc_ok else 1)
