"""`python -m ec2_connector.cli`: the same command as the `ec2-connector` script."""

from . import run

run()
