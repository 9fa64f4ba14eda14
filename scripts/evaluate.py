"""Evaluate retrieval: ``python scripts/evaluate.py [--questions FILE] [--beir DIR] [--json OUT]``.

The same code as ``spasmqa eval``; see ``spasmqa eval --help`` for every option.
"""

import sys

from spasmqa.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
