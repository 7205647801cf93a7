"""`python -m vcm`: the same as the `vcm` command."""
from vcm.cli import main

if __name__ == "__main__":
    main(prog_name="vcm")
