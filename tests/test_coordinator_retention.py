"""Retention at the coordinator: old events and round rows go, results and reasons stay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from coordinator.cli import cli
from coordinator.feed import EventFeed
from coordinator.store import CoordinatorStore, Event, Output
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import write_toml

SPEC = ComputationSpec("s", Kind.SUM, "raises", 0, 10)
PARTIES = ("alice", "bob")


def _event(phase: str, state: str) -> Event:
    return Event(0, b"", 1, phase, state, PARTIES, "", phase, int(time.time() * 1000))


def _published(store: CoordinatorStore, cid: str, round_id: bytes) -> None:
    store.create(cid, SPEC, PARTIES)
    store.add_event(cid, _event("created", "pending"))
    store.begin_round(cid, round_id, 1, PARTIES, 0, (cid, _event("prepare", "running")))
    output = Output("sum", np.array([7], dtype=np.int64))
    store.publish(cid, round_id, (output,), _event("published", "published"))


def test_prune_keeps_results_and_drops_what_only_explains_the_past(tmp_path: Path) -> None:
    store = CoordinatorStore(tmp_path)
    _published(store, "old", b"\x01" * 16)
    store.create("failed", SPEC, PARTIES)
    store.fail("failed", "alice refused", _event("failed", "failed"))
    store.create("running", SPEC, PARTIES)
    store.add_event("running", _event("created", "pending"))
    events, rounds = store.prune(int(time.time() * 1000) + 1000)  # everything ended is old
    assert (events, rounds) == (4, 0)  # created+prepare+published, failed; the result's round
    result = store.result("old")
    assert result.outputs[0].values.tolist() == [7]
    assert store.get("failed").reason == "alice refused"
    assert len(store.events_after("running", 0)) == 1  # a running computation keeps its own
    assert store.events_after("old", 0) == []
    assert store.prune(0) == (0, 0)  # nothing ended before the epoch

    async def reattach() -> list[Event]:
        return [e async for e in EventFeed(store).watch("old")]

    (ended,) = asyncio.run(reattach())  # a watcher of a pruned computation still gets its end
    assert ended.state == "published"
    store.close()


def test_prune_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = CoordinatorStore(data)
    _published(store, "old", b"\x02" * 16)
    store.close()
    config = tmp_path / "coordinator.toml"
    write_toml(
        config,
        {
            "listen": "127.0.0.1:0",
            "data_dir": "data",
            "roster_file": "roster.toml",
            "tls": {"cert": "c.crt", "key": "c.key", "ca": "ca.crt"},
            "retention": {"days": 0},
        },
    )
    kept = CliRunner().invoke(cli, ["prune", "--config", str(config)])
    assert kept.exit_code == 0 and "everything is kept" in kept.output
    recent = CliRunner().invoke(cli, ["prune", "--config", str(config), "--days", "1"])
    assert recent.exit_code == 0 and "pruned 0 events" in recent.output, recent.output
    now = CliRunner().invoke(cli, ["prune", "--config", str(config), "--days", "0"])
    assert now.exit_code == 0 and "pruned 3 events and 0 round rows" in now.output, now.output
