"""`python -m vcm.cli`: the same as the `vcm` command (handy in tests and where the entry point is not on PATH)."""
from vcm.cli import main

main(prog_name="vcm")
