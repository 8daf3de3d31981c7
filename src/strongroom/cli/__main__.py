"""``python -m strongroom.cli`` (how ``serve`` starts its worker, and the tests)."""

import sys

from strongroom.cli.main import main

sys.exit(main())
