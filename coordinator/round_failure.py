"""Why a round aborted: the phase, and every party at fault with what went wrong; who is to
blame for a failed call."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.reasons import MESSAGE_LIMIT, strip_caller
from mpcnode.errors import MpcError

_UNREACHABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def blame(err: MpcError, callee: str) -> MpcError:
    """A node that cannot be reached is at fault unless it named another party."""
    if not err.party and err.status in _UNREACHABLE:
        err.party = callee
    return err


def is_unreachable(err: MpcError) -> bool:
    """True when a retry without `err.party` may succeed (the party is down or cut off)."""
    return err.status in _UNREACHABLE and bool(err.party)


@dataclass
class RoundFailure(Exception):
    """A round aborted in `phase`; `errors` maps each blamed party to what went wrong."""

    phase: str
    errors: dict[str, MpcError]

    def reason(self, label: str) -> str:
        """A sentence naming the phase and every party at fault, each distinct refusal once.

        Parties refused for the same reason are named together, and each node's message is
        cut to `MESSAGE_LIMIT` characters, so five refusals of one rule stay one line.
        """
        by_message: dict[str, list[str]] = {}
        for party, err in self.errors.items():
            text = strip_caller(err.message, party)[:MESSAGE_LIMIT]
            by_message.setdefault(f"{err.status}: {text}", []).append(party)
        parts = [f"{', '.join(parties)}: {text}" for text, parties in by_message.items()]
        return f"round {label} aborted in phase {self.phase}: " + "; ".join(parts)

    def dropped(self) -> dict[str, str]:
        """Each party at fault, with the line that says why (for a result's `dropped`)."""
        return {
            party: f"phase {self.phase}: {err.status}: "
            f"{strip_caller(err.message, party)[:MESSAGE_LIMIT]}"
            for party, err in self.errors.items()
        }

    @property
    def retryable(self) -> bool:
        """True when every fault is a party that could not be reached."""
        return all(is_unreachable(e) for e in self.errors.values())
