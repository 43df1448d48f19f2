"""``python -m patchloop``."""

from patchloop.cli import main

main()
