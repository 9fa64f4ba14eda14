"""Run the command line as ``python -m spasmqa``."""

import sys

from spasmqa.cli import main

sys.exit(main())
