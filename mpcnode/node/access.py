"""Who may call which of the node's RPCs, decided from the caller's certificate only.

DESIGN 4.3: round control is the coordinator's; shares come from roster parties (and the
round's participants, checked in `rounds`); the local API is the organization's own client
certificates. Pins in the roster (or config) bind an identity to one key, so a second
certificate for the same name, even one the CA issued, is refused.
"""

from __future__ import annotations

from typing import Any

import grpc.aio

from mpcnode.config import CoordinatorRef, Roster
from mpcnode.errors import PermissionDenied
from mpcnode.pki import Identity, Role
from mpcnode.tls import caller_identity


class NodeAccess:
    """The authorization rules of one node."""

    def __init__(self, party_id: str, coordinator: CoordinatorRef, roster: Roster) -> None:
        self._party_id = party_id
        self._coordinator = coordinator
        self._roster = roster

    def coordinator(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Admit only the configured coordinator (and its pinned key, if pinned)."""
        caller = caller_identity(context)
        ident = caller.identity
        if ident.role is not Role.COORDINATOR or ident.name != self._coordinator.name:
            raise PermissionDenied(
                f"{_describe(ident)} may not drive rounds; only the coordinator "
                f"{self._coordinator.name!r} may call round control"
            )
        _check_pin(ident, caller.pin, self._coordinator.pin, "this node's coordinator.pin")

    def party(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """Admit a party on the roster (with its pinned key); return its id."""
        caller = caller_identity(context)
        ident = caller.identity
        entry = self._roster.get(ident.name) if ident.role is Role.PARTY else None
        if entry is None:
            raise PermissionDenied(
                f"{_describe(ident)} is not a party on this node's roster; only roster "
                "parties may send shares"
            )
        _check_pin(ident, caller.pin, entry.pin, "the roster's pin")
        return ident.name

    def local(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """Admit only a client certificate of this organization; return its name."""
        ident = caller_identity(context).identity
        if ident.role is not Role.CLIENT or ident.org != self._party_id:
            raise PermissionDenied(
                f"{_describe(ident)} may not use the local API of {self._party_id}; it takes "
                f"client certificates of organization {self._party_id!r} only "
                f"(`mpcnode pki issue --role client --org {self._party_id} ...`)"
            )
        return ident.name


def _describe(ident: Identity) -> str:
    org = f" of {ident.org}" if ident.org else ""
    return f"certificate {ident.role.value} {ident.name!r}{org}"


def _check_pin(ident: Identity, actual: str, expected: str | None, where: str) -> None:
    if expected is not None and actual != expected:
        raise PermissionDenied(
            f"{_describe(ident)} presented key {actual}, but {where} is {expected}; "
            "if the key was rotated on purpose, update the pin"
        )
