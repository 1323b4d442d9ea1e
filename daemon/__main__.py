"""`python -m daemon` runs the `partnerships` command."""

import sys

from daemon.cli import main

sys.exit(main())
