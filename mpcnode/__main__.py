"""`python -m mpcnode` is the `mpcnode` command."""

from mpcnode.commands.node import main

main()
