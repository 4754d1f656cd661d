"""``python -m tests.differential``: the deep check (see :mod:`.deep`)."""

import sys

from .deep import main

sys.exit(main())
