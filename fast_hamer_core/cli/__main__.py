"""``python -m fast_hamer_core.cli``: the ``fast-hamer`` tool without its console script."""

import sys

from fast_hamer_core.cli import main

sys.exit(main())
