"""The exceptions of mpcnode, one root and a few named kinds, each with its gRPC status.

    MpcError                      INTERNAL
     +-- InvalidInput             INVALID_ARGUMENT   malformed, shape, NaN, bounds, spec, overflow
     +-- PermissionDenied         PERMISSION_DENIED  wrong identity or role for this call
     +-- NotFound                 NOT_FOUND          unknown round, dataset, computation
     +-- AlreadyExists            ALREADY_EXISTS     replayed or conflicting duplicate message
     +-- PreconditionFailed       FAILED_PRECONDITION policy, min parties, input reuse, wrong state
     +-- DeadlineExceeded         DEADLINE_EXCEEDED  a round's deadline passed
     +-- Unavailable              UNAVAILABLE        a peer or node could not be reached
     +-- Unimplemented            UNIMPLEMENTED      a wire feature this version does not speak

This module is pure (no gRPC import) so the core can raise these; `mpcnode.rpc.status` maps
them to gRPC statuses on the server and back on the client, each in exactly one place. The
message of an error is public: it goes to the remote caller, so it must help a person act
and must never contain a share, a seed, an input or an un-noised aggregate.
"""

from __future__ import annotations


class MpcError(Exception):
    """Root of every error mpcnode raises on purpose; `status` names its gRPC status code."""

    status = "INTERNAL"
    # The stable reason code a partner can branch on (google.rpc.ErrorInfo.reason, domain
    # "mpc.v1"); a rule with a code of its own passes `reason=`. README: "Error reasons".
    default_reason = "INTERNAL"

    def __init__(self, message: str, *, party: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        # The party at fault, when the error is another party's doing (e.g. a peer that
        # could not be reached); the coordinator names it in an abort reason.
        self.party = party
        self.reason = reason or self.default_reason


class InvalidInput(MpcError):
    """The caller sent something malformed or out of range; resending it unchanged fails again."""

    status = "INVALID_ARGUMENT"
    default_reason = "INVALID_INPUT"


class PermissionDenied(MpcError):
    """The caller's certificate identity or role may not make this call."""

    status = "PERMISSION_DENIED"
    default_reason = "NOT_ALLOWED"


class NotFound(MpcError):
    """The named round, dataset or computation does not exist here."""

    status = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(MpcError):
    """A message that was already accepted arrived again (a replay or a conflicting duplicate)."""

    status = "ALREADY_EXISTS"
    default_reason = "DUPLICATE"


class PreconditionFailed(MpcError):
    """The request is well formed but the system's state or policy refuses it now."""

    status = "FAILED_PRECONDITION"
    default_reason = "REFUSED"


class DeadlineExceeded(MpcError):
    """A round's deadline passed before the step could complete."""

    status = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_PASSED"


class Unavailable(MpcError):
    """A peer node, node or coordinator could not be reached."""

    status = "UNAVAILABLE"
    default_reason = "UNREACHABLE"


class Unimplemented(MpcError):
    """The message uses a wire feature this version does not implement yet."""

    status = "UNIMPLEMENTED"
    default_reason = "UNSUPPORTED"


SHOWN_LIMIT = 64


def shown(text: object, limit: int = SHOWN_LIMIT) -> str:
    """Caller input as an error message may echo it: repr'd, and cut to about `limit` chars.

    Every message that quotes what a caller sent goes through here, so a 10 KB dataset name
    or party id cannot turn the real status into RESOURCE_EXHAUSTED on the metadata, and a
    control character (a newline in a name) is visible rather than printed.
    """
    value = repr(text) if isinstance(text, str) else repr(str(text))
    if len(value) <= limit:
        return value
    return value[: limit - 3] + "...'" + f" ({len(str(text))} characters)"


ALL_ERRORS: tuple[type[MpcError], ...] = (
    MpcError,
    InvalidInput,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    DeadlineExceeded,
    Unavailable,
    Unimplemented,
)
