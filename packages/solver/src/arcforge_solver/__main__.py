"""`python -m arcforge_solver` runs the `arcforge-solve` CLI."""

import sys

from arcforge_solver.cli import main

sys.exit(main())
