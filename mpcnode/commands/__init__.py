"""The command-line interfaces: `mpcnode` (node.py) and the pieces `mpc-coordinator` shares.

One module per command group (pki, health) or concern (shared options, declaration flags,
rendering for people and scripts); the commands call the client library and never the
daemons' internals.
"""

import os

# gRPC core writes log lines of its own to stderr (an INFO line for every failed TLS
# handshake, say), which a person can do nothing with: the client explains the failure in
# words instead (mpcnode.handshake). Errors still show; GRPC_VERBOSITY=INFO brings the rest
# back. It must be set before grpc is first imported, which these packages' modules do.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
