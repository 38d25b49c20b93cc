"""`python -m arcforge_kaggle_publish` runs the `arcforge-publish` CLI."""

import sys

from arcforge_kaggle_publish.cli import main

sys.exit(main())
