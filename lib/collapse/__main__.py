"""``python -m collapse``: the command line of :mod:`collapse.book.cli`."""

import sys

from collapse.book.cli import main

if __name__ == "__main__":
    sys.exit(main(process=True))
