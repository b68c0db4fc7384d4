"""``python -m dataplane.cli`` is ``dpctl``."""

from dataplane.cli import main

main()
