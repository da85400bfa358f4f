"""`python -m csms` runs the csms command."""

import sys

from csms.operator.cli import main

sys.exit(main())
