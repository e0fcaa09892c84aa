"""Daemons that die mid-round: a node killed before it shares, a coordinator restarted.

A node dies at the share step by a failpoint (MPCNODE_FAILPOINT=before-share): the step is
milliseconds long since shares are seeds, too short to hit with a signal. The coordinator is
restarted on its own "share" event, never after a sleep; the rounds use vectors of 2,000,000
elements so that the partial phase after it lasts long enough to be interrupted.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from integration_helpers import log_records, running_federation, scalar, submit_all, vector

from mpcnode.client import Progress
from mpcnode.commands.options import CallerGone
from mpcnode.core.declaration import Declaration
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import DeadlineExceeded, MpcError
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration

PARTIES = ("alice", "bob", "carlos", "david")
BIG = 2_000_000
WATCH_TIMEOUT = 120.0


def _big_inputs() -> dict[str, npt.NDArray[np.int64]]:
    base = np.arange(BIG, dtype=np.int64) % 1000
    return {party: base + 1000 * i for i, party in enumerate(PARTIES)}


def _big_declaration(dataset: str) -> Declaration:
    return vector(dataset, BIG, 0, 4000)


def _big_spec(name: str, dataset: str) -> ComputationSpec:
    return ComputationSpec(
        name=name, kind=Kind.SUM, dataset=dataset, lower=0, upper=4000, length=BIG, min_parties=3
    )


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    """A federation of its own: these tests kill its daemons."""
    with running_federation(tmp_path / "fed", PARTIES) as federation:
        yield federation


def test_node_killed_before_it_shares_is_dropped_and_the_round_retried(tmp_path: Path) -> None:
    doomed = {"bob": {"MPCNODE_FAILPOINT": "before-share"}}
    with running_federation(tmp_path / "fed", PARTIES, daemon_env=doomed) as fed:
        _node_killed_before_it_shares(fed)


def _node_killed_before_it_shares(fed: LocalFederation) -> None:
    inputs = _big_inputs()
    submit_all(fed, "killed-node", inputs, _big_declaration("killed-node"))
    events: list[Progress] = []
    with fed.analyst() as analyst:
        cid = analyst.create(_big_spec("survives a dead node", "killed-node"))
        events.extend(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        info = analyst.status(cid)
        result = analyst.result(cid)

    aborted = [e for e in events if e.phase == "aborted"]
    assert aborted, [e.message for e in events]
    assert aborted[0].attempt == 1
    assert aborted[0].party == "bob"
    assert "bob" in aborted[0].message
    assert "UNAVAILABLE" in aborted[0].message
    assert events[-1].state == "published"
    assert events[-1].attempt == 2
    assert info.state == "published"
    assert info.attempts == 2

    survivors = ("alice", "carlos", "david")
    assert result.participants == survivors
    assert [party for party, _ in result.dropped] == ["bob"]
    assert "UNAVAILABLE" in result.dropped[0][1]
    expected = sum(inputs[p] for p in survivors)
    np.testing.assert_array_equal(result.outputs["sum"], expected)

    # alice's input went into exactly one released partial: the published round's.
    with fed.local_client("alice") as alice:
        releases = alice.releases("killed-node")
    assert len(releases) == 1
    assert releases[0].round_id == result.round_id
    assert releases[0].participants == survivors


def test_node_down_before_the_computation_is_dropped_at_prepare(fed: LocalFederation) -> None:
    submit_all(
        fed, "down-node", {"alice": 1, "bob": 2, "carlos": 3, "david": 4}, scalar("down-node", 10)
    )
    fed.stop_daemon("bob", signal.SIGKILL)
    spec = ComputationSpec(
        name="without bob", kind=Kind.SUM, dataset="down-node", lower=0, upper=10, min_parties=3
    )
    events: list[Progress] = []
    with fed.analyst() as analyst:
        result = analyst.run(spec, on_progress=events.append)
    aborted = [e for e in events if e.phase == "aborted"]
    assert len(aborted) == 1
    assert aborted[0].party == "bob"
    assert "phase prepare" in aborted[0].message
    assert "UNAVAILABLE" in aborted[0].message
    assert "bob" in aborted[0].message
    assert result.participants == ("alice", "carlos", "david")
    assert result.outputs["sum"].tolist() == [1 + 3 + 4]


def test_coordinator_restarted_mid_round_ends_every_computation(fed: LocalFederation) -> None:
    small_inputs = {"alice": 1, "bob": 2, "carlos": 3, "david": 4}
    submit_all(fed, "published-first", small_inputs, scalar("published-first", 10))
    inputs = _big_inputs()
    submit_all(fed, "interrupted-share", inputs, _big_declaration("interrupted-share"))
    small = ComputationSpec(
        name="published before", kind=Kind.SUM, dataset="published-first", lower=0, upper=10
    )
    with fed.analyst() as analyst:
        before = analyst.run(small)
        assert before.outputs["sum"].tolist() == [10]
        cid = analyst.create(_big_spec("interrupted", "interrupted-share"))
        watching = analyst.watch(cid, timeout=WATCH_TIMEOUT)
        phases = []
        for event in watching:
            phases.append(event.phase)
            if event.phase == "share":
                break
        watching.close()
    assert phases[-1] == "share"

    fed.stop_daemon("coordinator", signal.SIGKILL)
    fed.start_daemon("coordinator")
    fed.wait_ready("coordinator")

    with fed.analyst() as analyst:
        again = analyst.result(before.computation_id)
        assert again.round_id == before.round_id
        assert again.participants == before.participants
        assert again.published_unix_ms == before.published_unix_ms
        assert again.outputs.keys() == before.outputs.keys()
        np.testing.assert_array_equal(again.outputs["sum"], before.outputs["sum"])

        events = list(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        info = analyst.status(cid)
        restart_aborts = [e for e in events if e.phase == "aborted" and "restart" in e.message]
        assert restart_aborts, [e.message for e in events]
        # The retry is the same computation over the same parties: whether or not a node
        # had released its partial before the restart, the ledger allows the identical repeat.
        assert events[-1].state == info.state == "published", info.reason
        result = analyst.result(cid)
        assert result.participants == PARTIES
        np.testing.assert_array_equal(result.outputs["sum"], sum(inputs.values()))
        for party in PARTIES:
            with fed.local_client(party) as node:
                released = node.releases("interrupted-share")
            assert released[-1].round_id == result.round_id
            assert {r.participants for r in released} == {PARTIES}

        stuck = [c for c in analyst.list() if c.state in ("pending", "running")]
        assert stuck == []
        states = {c.computation_id: c.state for c in analyst.list()}
    assert states[before.computation_id] == "published"
    assert states[cid] == "published"


def _require(condition: bool, what: str) -> None:
    """Fail (not xfail) when the scenario itself did not happen as the test set it up."""
    if not condition:
        pytest.fail(what)


def _wait_for_release(fed: LocalFederation, party: str, dataset: str) -> None:
    """Poll `party`'s release records until it has released a partial of `dataset`."""
    limit = time.monotonic() + 60.0
    with fed.local_client(party) as node:
        while not node.releases(dataset):
            _require(time.monotonic() < limit, f"{party} released no partial within 60 s")
            time.sleep(0.005)


def test_coordinator_restarted_after_partials_were_released_retries_the_same_computation(
    fed: LocalFederation,
) -> None:
    inputs = _big_inputs()
    submit_all(fed, "interrupted-partial", inputs, _big_declaration("interrupted-partial"))
    with fed.analyst() as analyst:
        cid = analyst.create(_big_spec("interrupted late", "interrupted-partial"))
        watching = analyst.watch(cid, timeout=WATCH_TIMEOUT)
        for event in watching:
            if event.phase == "partial":
                break
        watching.close()
    # alice's release is durably recorded before her partial leaves: it is in her ledger.
    _wait_for_release(fed, "alice", "interrupted-partial")
    fed.stop_daemon("coordinator", signal.SIGKILL)
    fed.start_daemon("coordinator")
    fed.wait_ready("coordinator")

    with fed.analyst() as analyst:
        events = list(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        info = analyst.status(cid)
        stuck = [c for c in analyst.list() if c.state in ("pending", "running")]
        _require(
            any("restarted during phase partial" in e.message for e in events),
            f"the coordinator was not killed in phase partial: {[e.message for e in events]}",
        )
        _require(stuck == [], f"computations left unfinished: {stuck}")
        # The retry is the identical computation over the same parties and the same (sealed)
        # values: the ledger allows it, since it reveals nothing the first release did not.
        assert info.state == "published", info.reason
        result = analyst.result(cid)
    assert result.participants == PARTIES
    np.testing.assert_array_equal(result.outputs["sum"], sum(inputs.values()))
    with fed.local_client("alice") as alice:
        releases = alice.releases("interrupted-partial")
    # The interrupted round's release stays in the audit trail, then the published one.
    assert len(releases) == 2
    assert releases[-1].round_id == result.round_id
    assert {(r.participants, r.function, r.period) for r in releases} == {
        (PARTIES, releases[0].function, "1")
    }


SHARE_TIMEOUT_S = 2.0


@pytest.mark.parametrize("length", [1, 1_000_000])
def test_a_node_stalled_in_share_is_blamed_alone_and_the_retry_publishes_without_it(
    tmp_path: Path, length: int
) -> None:
    """bob stops itself (SIGSTOP) when handed its seeds: only his call times out, so only he
    is blamed, and the retry without him publishes within the share timeout plus a round."""
    stalled = {"bob": {"MPCNODE_FAILPOINT": "stall-before-share"}}
    rounds = {"share_timeout_seconds": SHARE_TIMEOUT_S}
    with running_federation(tmp_path / "fed", PARTIES, rounds=rounds, daemon_env=stalled) as fed:
        dataset = f"stalled-{length}"
        inputs = {p: np.full(length, i + 1, dtype=np.int64) for i, p in enumerate(PARTIES)}
        submit_all(fed, dataset, inputs, vector(dataset, length, 0, 10) if length > 1 else
                   scalar(dataset, 10))  # fmt: skip
        spec = ComputationSpec(
            name="survives a stall", kind=Kind.SUM, dataset=dataset, lower=0, upper=10,
            length=length, min_parties=3,
        )  # fmt: skip
        events: list[Progress] = []
        with fed.analyst() as analyst:
            cid = analyst.create(spec)
            with pytest.raises(DeadlineExceeded, match=r"still running after 0\.5 s"):
                list(analyst.watch(cid, timeout=0.5))  # gives up watching, not the computation
            # One share timeout and one more round, or the watch fails (DeadlineExceeded).
            events.extend(analyst.watch(cid, timeout=SHARE_TIMEOUT_S + 30))
            result = analyst.result(cid)
        bob = fed.processes["bob"]
        assert bob.poll() is None  # stalled, not dead: it got SIGCONT only at the stop
    aborted = [e for e in events if e.phase == "aborted"]
    assert len(aborted) == 1, [e.message for e in events]
    assert aborted[0].party == "bob"
    assert "phase share" in aborted[0].message and "DEADLINE_EXCEEDED" in aborted[0].message
    assert "alice" not in aborted[0].message.split("phase share", 1)[1]  # nobody else blamed
    assert result.participants == ("alice", "carlos", "david")
    assert [party for party, _ in result.dropped] == ["bob"]
    assert result.dropped[0][1].startswith("phase share: DEADLINE_EXCEEDED")
    assert result.outputs["sum"].tolist() == [1 + 3 + 4] * length


@pytest.mark.parametrize("point", ["after-publish", "after-fail"])
def test_a_coordinator_killed_at_the_end_leaves_the_terminal_event_to_whoever_reattaches(
    tmp_path: Path, point: str
) -> None:
    """The terminal state and its event are one transaction: a crash between the commit and
    waking the watchers leaves both, and a watcher attached after the restart gets the end."""
    dies = {"coordinator": {"MPCNODE_FAILPOINT": point}}
    with running_federation(tmp_path / "fed", PARTIES, daemon_env=dies) as fed:
        dataset = "ends"
        submit_all(fed, dataset, {p: i for i, p in enumerate(PARTIES)}, scalar(dataset, 10))
        upper = 10 if point == "after-publish" else 20  # 20: every node refuses (not declared)
        spec = ComputationSpec(
            name="the end", kind=Kind.SUM, dataset=dataset, lower=0, upper=upper, min_parties=3
        )
        with fed.analyst() as analyst:
            cid = analyst.create(spec)
            with pytest.raises(MpcError):  # the stream breaks when the coordinator dies
                list(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        assert fed.processes["coordinator"].wait(30) == 86
        fed.processes.pop("coordinator")
        fed.start_daemon("coordinator")
        fed.wait_ready("coordinator")
        with fed.analyst() as analyst:
            events = list(analyst.watch(cid, timeout=5))  # the end at once, or DeadlineExceeded
            info = analyst.status(cid)
    want = "published" if point == "after-publish" else "failed"
    assert events[-1].state == want == info.state, [e.message for e in events]
    assert [e.state for e in events].count(want) == 1


def test_max_attempts_hold_across_coordinator_restarts(tmp_path: Path) -> None:
    """A computation whose every round crashes the coordinator is failed after max_attempts
    rounds in all, however many restarts it took: no crash loop."""
    dies = {"coordinator": {"MPCNODE_FAILPOINT": "before-collect"}}
    rounds = {"max_attempts": 2}
    with running_federation(tmp_path / "fed", PARTIES, rounds=rounds, daemon_env=dies) as fed:
        submit_all(fed, "loop", {p: i for i, p in enumerate(PARTIES)}, scalar("loop", 10))
        spec = ComputationSpec(
            name="crashes", kind=Kind.SUM, dataset="loop", lower=0, upper=10, min_parties=3
        )
        with fed.analyst() as analyst:
            cid = analyst.create(spec)
        for _ in range(2):  # each start resumes the computation and dies in its round
            assert fed.processes["coordinator"].wait(30) == 86
            fed.processes.pop("coordinator")
            fed.start_daemon("coordinator", {"MPCNODE_FAILPOINT": "before-collect"})
            fed.wait_ready("coordinator")
        with fed.analyst() as analyst:
            events = list(analyst.watch(cid, timeout=30))
            info = analyst.status(cid)
        assert fed.processes["coordinator"].poll() is None  # the third start ran no round
    assert info.state == "failed"
    assert info.attempts == 2
    assert "gave up after 2 rounds" in info.reason
    assert "coordinator restart" in info.reason
    restarted = [e for e in events if e.state == "running" and "restarted" in e.message]
    assert len(restarted) == 2, [(e.phase, e.message) for e in events]


def test_a_node_restarted_just_before_a_round_is_included(tmp_path: Path) -> None:
    """The coordinator's channel to bob saw him go: right after he serves again, the next
    round includes him (reconnect backoff of at most 1 s, and Prepare waits briefly)."""
    with running_federation(tmp_path / "fed", PARTIES) as fed:
        submit_all(fed, "back", {p: i + 1 for i, p in enumerate(PARTIES)}, scalar("back", 10))
        spec = ComputationSpec(
            name="with bob", kind=Kind.SUM, dataset="back", lower=0, upper=10, min_parties=3
        )
        with fed.analyst() as analyst:
            first = analyst.run(spec)
            fed.stop_daemon("bob")
            fed.start_daemon("bob")
            fed.wait_ready("bob")
            again = analyst.run(spec)
    assert first.participants == again.participants == PARTIES
    assert again.dropped == ()
    assert again.outputs["sum"].tolist() == [10]


def test_a_coordinator_gone_mid_collect_is_a_warning_on_the_nodes_not_a_traceback(
    tmp_path: Path,
) -> None:
    """An expected failure is one WARNING line; tracebacks are for bugs (issue 10, item 8)."""
    dies = {"coordinator": {"MPCNODE_FAILPOINT": "mid-collect"}}
    length = 1_000_000  # sixteen chunks: the nodes are still streaming when it goes
    with running_federation(tmp_path / "fed", PARTIES, daemon_env=dies) as fed:
        inputs = {p: np.full(length, i, dtype=np.int64) for i, p in enumerate(PARTIES)}
        submit_all(fed, "gone", inputs, vector("gone", length, 0, 10))
        spec = ComputationSpec(
            name="gone", kind=Kind.SUM, dataset="gone", lower=0, upper=10, length=length,
            min_parties=3,
        )  # fmt: skip
        with fed.analyst() as analyst:
            cid = analyst.create(spec)
            with pytest.raises(MpcError):
                list(analyst.watch(cid, timeout=WATCH_TIMEOUT))
        assert fed.processes["coordinator"].wait(30) == 86
        time.sleep(1)  # the nodes notice the broken streams
    warned = []
    for party in PARTIES:
        log = (fed.root / "logs" / f"{party}.log").read_text()
        assert "Traceback" not in log, log
        records = log_records(fed.root / "logs" / f"{party}.log")
        assert not [r for r in records if r.get("level") == "ERROR"], log
        warned += [
            r for r in records if r.get("level") == "WARNING" and "caller went away" in r["message"]
        ]
    # A node still streaming when the coordinator died says so, on one line with its round
    # (whether one still was depends on timing: the ERROR check above is the test's point).
    assert all(r["round_id"] and r["phase"] == "CollectPartial" for r in warned), warned


def test_the_caller_gone_record_becomes_one_warning_line() -> None:
    record = logging.LogRecord(
        "grpc._cython.cygrpc", logging.ERROR, __file__, 1,
        "ExecuteBatchError raised in core by servicer method [/mpc.v1.RoundControl/"
        "CollectPartial]", (), (RuntimeError, RuntimeError("x"), None),
    )  # fmt: skip
    assert CallerGone().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "the caller went away while /mpc.v1.RoundControl/CollectPartial was streaming its reply"
    )
