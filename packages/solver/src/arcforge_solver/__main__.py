"""`python -m arcforge_solver` runs the `arcforge-solve` CLI."""

import sys

from arcforge_solver.cli import main

if __name__ == "__main__":  # guarded: spawned worker processes import this module again
    sys.exit(main())
