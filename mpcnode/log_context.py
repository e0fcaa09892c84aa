"""What every log line says about where it comes from: computation, round, phase, peer.

The fields live in a context variable, so each asyncio task (every RPC handler, every
per-node call of a fan-out) carries its own: `bound(round_id=..., phase=...)` sets them for
the code below it, and `ContextFilter` copies them onto each record. Only identifiers go
here (ids, phase names, party ids), never a value; the formatters print them (`--log-format
json` as fields, `text` as a suffix).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

FIELDS = ("computation_id", "round_id", "phase", "peer")
_CURRENT: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "mpc_log_fields", default=()
)


def _merged(fields: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple({**dict(_CURRENT.get()), **fields}.items())


@contextlib.contextmanager
def bound(**fields: str) -> Iterator[None]:
    """Add `fields` (of FIELDS) to every log line of the code inside."""
    token = _CURRENT.set(_merged(fields))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def bind(**fields: str) -> None:
    """Add `fields` to every later log line of the current task (and of tasks it starts)."""
    _CURRENT.set(_merged(fields))


class ContextFilter(logging.Filter):
    """Put the current fields on each record (an empty string when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate `record`; keep it."""
        current = dict(_CURRENT.get())
        for name in FIELDS:
            setattr(record, name, current.get(name, ""))
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [round=... phase=...]`, the context only when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, then the context fields that are set."""
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name, "")
        )
        return f"{line} [{context}]" if context else line
