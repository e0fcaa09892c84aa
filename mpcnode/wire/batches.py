"""RoundControl.Batch: several small round calls to one node in one message (issue 10, 9).

A batch is only an envelope. Each call in it is carried out as it would be alone and
answered with its own reply or status, so batching changes how many messages cross the
network, never what a node checks, releases or refuses. Its limits keep a batch well under
the 4 MiB message limit: 64 calls, requests of at most 1 MiB together, and partials of at
most 4,096 elements (32 KiB each), so a batch of partials stays under 2.1 MiB; a Prepare's
or Share's answer carries one sealed seed per other participant (about 150 bytes each).
"""

from __future__ import annotations

from mpcnode.api.v1 import node_pb2
from mpcnode.errors import InvalidInput

MAX_CALLS = 64
MAX_PARTIAL_ELEMENTS = 4096
# The requests of one batch together: a Prepare's spec can be large (a histogram's labels), so
# a coordinator sends alone any call that would take a batch past this.
MAX_REQUEST_BYTES = 1 << 20
# Each kind of call a batch carries (the RoundCall field), and the RPC it stands for.
METHODS = {"prepare": "Prepare", "share": "Share", "collect": "CollectPartial"}


def batch_calls(request: node_pb2.BatchRequest) -> list[tuple[str, node_pb2.RoundCall]]:
    """Each call of a batch with the kind of call it is; INVALID_ARGUMENT for a batch that is
    empty, too long, or has a call without a body."""
    count = len(request.calls)
    if not 1 <= count <= MAX_CALLS:
        raise InvalidInput(f"a Batch carries 1 to {MAX_CALLS} calls, not {count}")
    calls: list[tuple[str, node_pb2.RoundCall]] = []
    for index, call in enumerate(request.calls):
        kind = call.WhichOneof("call")
        if kind is None:
            raise InvalidInput(
                f"call {index} of the Batch has no body: set one of {', '.join(METHODS)}"
            )
        calls.append((kind, call))
    return calls
