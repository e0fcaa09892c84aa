"""`python -m coordinator` is the `mpc-coordinator` command."""

from coordinator.cli import main

main()
