"""`python -m arcforge_downloader` runs the `arcforge-download` CLI."""

import sys

from arcforge_downloader.cli import main

sys.exit(main())
