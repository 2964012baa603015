"""``python -m smlib``: see :mod:`smlib.cli`."""

import sys

from .cli import main

sys.exit(main())
