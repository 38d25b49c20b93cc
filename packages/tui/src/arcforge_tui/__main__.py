"""`python -m arcforge_tui` runs the `arcforge-tui` CLI."""

import sys

from arcforge_tui.cli import main

sys.exit(main())
