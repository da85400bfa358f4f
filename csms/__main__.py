"""`python -m csms` runs the csms command."""

import sys

from csms.operator.command_line.cli import main

sys.exit(main())
