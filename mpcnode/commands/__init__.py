"""The command-line interfaces: `mpcnode` (node.py) and the pieces `mpc-coordinator` shares.

One module per command group (pki, health) or concern (shared options, declaration flags,
rendering for people and scripts); the commands call the client library and never the
daemons' internals.
"""
