"""The coordinator daemon: sequences rounds, collects partial sums, publishes aggregates.

It never receives a share; it sees only per-node partial sums, which are uniform and
independent of any single input unless all of them are added (DESIGN 1, 4.1).
This package may import `mpcnode`; `mpcnode` never imports it.
"""

import os

# gRPC core writes log lines of its own to stderr (an INFO line for every failed TLS
# handshake, say), which a person can do nothing with: the client explains the failure in
# words instead (mpcnode.handshake). Errors still show; GRPC_VERBOSITY=INFO brings the rest
# back. It must be set before grpc is first imported, which these packages' modules do.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
