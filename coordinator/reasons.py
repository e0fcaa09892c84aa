"""A computation's failure reason: short, each refusal once, no node-side detail but the rule.

Nodes' refusals are value-blind by construction (DESIGN 1): they name the rule, the spec
and the declaration, never a stored value. The coordinator adds only the phase, the round
and the parties, and keeps the whole bounded, so five parties refusing the same rule on
three attempts is one line, not fifteen.
"""

from __future__ import annotations

MESSAGE_LIMIT = 400  # characters of one node's refusal in a reason
REASON_LIMIT = 2000  # characters of a computation's whole failure reason


def strip_caller(message: str, party: str) -> str:
    """Drop the "<party> (<step>): " prefix the gateway adds; the reason names parties."""
    prefix = f"{party} ("
    if message.startswith(prefix) and "): " in message:
        return message.split("): ", 1)[1]
    return message


def failure_reason(aborts: list[str], why: str) -> str:
    """A computation's failure reason: each distinct abort once, then why it stopped.

    Aborts differ only by their round label when a retry met the same refusal, so they are
    compared without it. The whole is cut to REASON_LIMIT characters.
    """
    seen: set[str] = set()
    distinct = []
    for abort in aborts:
        body = abort.split(": ", 1)[1] if abort.startswith("round ") else abort
        if body not in seen:
            seen.add(body)
            distinct.append(abort)
    repeated = len(aborts) - len(distinct)
    tail = f" ({why}" + (f"; {repeated} identical abort(s) not repeated" if repeated else "") + ")"
    text = "; then ".join(distinct) if distinct else why
    if not distinct:
        return text[:REASON_LIMIT]
    room = REASON_LIMIT - len(tail)
    if len(text) > room:
        text = text[: room - 5] + " [...]"
    return text + tail
