"""``python -m ddms`` is the ``ddms`` command."""

import sys

from ddms.cli import main

sys.exit(main())
