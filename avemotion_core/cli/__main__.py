"""``python -m avemotion_core.cli`` (what ``torchrun -m`` launches)."""

import sys

from avemotion_core.cli import main

sys.exit(main())
