"""Build a spasmqa index: ``python scripts/build_index.py [--corpus DIR] [--out DIR] [--model NAME]``.

The same code as ``spasmqa build``; see ``spasmqa build --help`` for every option.
"""

import sys

from spasmqa.cli import main

if __name__ == "__main__":
    sys.exit(main(["build", *sys.argv[1:]]))
