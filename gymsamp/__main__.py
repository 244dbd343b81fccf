"""``python -m gymsamp``: the ``gymsamp`` command (see :mod:`gymsamp.cli`)."""

import sys

from gymsamp.cli import main

if __name__ == "__main__":
    sys.exit(main())
