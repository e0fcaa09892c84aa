"""Log lines carry their round's context, per asyncio task, in both formats (`--log-format`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from mpcnode.commands.options import setup_logging
from mpcnode.log_context import bind, bound


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """What the handler writes to sys.stderr (pytest's capture, not a terminal)."""
    yield capsys
    logging.getLogger().handlers.clear()


def test_json_lines_carry_each_tasks_own_context(stderr: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "auto")  # not a terminal: JSON
    log = logging.getLogger("probe")

    async def call(peer: str) -> None:
        bind(peer=peer)
        await asyncio.sleep(0)
        log.info("called %s", peer)

    async def round_() -> None:
        bind(computation_id="c1", round_id="ab" * 16, phase="share")
        await asyncio.gather(call("alice"), call("bob"))
        log.warning("round done")

    asyncio.run(round_())
    records = [json.loads(line) for line in stderr.readouterr().err.splitlines()]
    assert [(r["message"], r["peer"]) for r in records] == [
        ("called alice", "alice"),
        ("called bob", "bob"),
        ("round done", ""),  # a call's peer stays in the call's task
    ]
    assert all(r["computation_id"] == "c1" and r["phase"] == "share" for r in records)
    assert records[-1]["level"] == "WARNING" and records[-1]["logger"] == "probe"


def test_text_lines_end_with_the_context_that_is_set(stderr: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "text")
    with bound(round_id="ff" * 16, phase="Prepare"):
        logging.getLogger("probe").info("prepared")
    logging.getLogger("probe").info("idle")
    first, second = stderr.readouterr().err.splitlines()
    assert first.endswith(f"probe: prepared [round_id={'ff' * 16} phase=Prepare]")
    assert second.endswith("probe: idle")
