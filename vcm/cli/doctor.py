"""`vcm doctor`: what is usable on this machine. Imports no torch (asks a subprocess instead)."""
from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(as_json):
    """Show which VVC encoders/decoders, torch devices and detector weights are usable.

    \b
    Example:
      vcm doctor
    Exit code 0 when at least one VVC encoder and one decoder really code and decode a
    test picture here, 1 otherwise.
    """
    import json
    import sys

    from vcm.pipelines.doctor import diagnose

    report = diagnose()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        width = max(len(r["name"]) for r in report["rows"])
        for r in report["rows"]:
            mark = "ok " if r["ok"] else "-- "
            click.echo(f"{mark} {r['name']:<{width}}  {r['detail']}")
        click.echo(f"\nVVC encode+decode works: {'yes' if report['vvc_ok'] else 'NO'}")
    sys.exit(0 if report["vvc_ok"] else 1)
