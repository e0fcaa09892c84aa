"""mpcnode: secure multi-party aggregation by additive secret sharing over mutual-TLS gRPC.

Layers, lowest first (imports go only downwards; see DESIGN.md section 7):

- `mpcnode.core`   pure math: ring, fixed-point encoding, sharing, specs, transcript hashes.
- `mpcnode.errors` the named exceptions (pure) and their gRPC status names.
- edges:           `pki`, `tls`, `wire` (proto <-> domain), `config`, `storage`, `rpc`.
- apps:            the node daemon (`node`), the client library (`client`), the CLI and demo.

The `coordinator` package sits above this one and may import it; never the reverse.
"""

__version__ = "0.1.0"
