"""`python -m mdm_sim.jamf` = `mdm-sim jamf`."""

import sys

from .cli import main

sys.exit(main())
