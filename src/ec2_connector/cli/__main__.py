"""`python -m ec2_connector.cli`: the same command as the `ec2-connector` script."""

import sys

from . import main

sys.exit(main())
