"""`python -m mpcnode` is the `mpcnode` command."""

from mpcnode.cli import main

main()
