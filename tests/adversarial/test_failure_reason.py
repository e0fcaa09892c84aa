"""A failed computation's reason is bounded and says each refusal once.

The reason an analyst reads (GetComputation.reason, and the last event) gathers every
abort of every attempt. Unbounded, five parties refusing on three attempts would be fifteen
copies of one refusal, and a node's message could fill the status metadata. Here five
parties fail one computation over three attempts: erin is down (attempt 1 drops it), david
crashes right after recording its release (attempt 2 drops it), and the retry over alice,
bob and carlos is refused by the exact rule (attempt 3 ends it). The reason stays under
2000 characters and names each distinct refusal once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adversary import NEVER_SUGGESTED, RAISES, declare_all, run, running_federation, scalar, spec

from mpcnode.api.v1 import types_pb2 as pb
from mpcnode.failpoints import FAILPOINT_EXIT
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration

PARTIES5 = ("alice", "bob", "carlos", "david", "erin")
VALUES5 = {**RAISES, "erin": 4100}
REASON_LIMIT = 2000


@pytest.fixture(scope="module")
def fed5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Five parties; david's node crashes right after it records a release."""
    crash = {"david": {"MPCNODE_FAILPOINT": "after-release-recorded"}}
    with running_federation(tmp_path_factory.mktemp("reasons"), PARTIES5, env=crash) as fed:
        yield fed


def _bounded(texts: list[str]) -> None:
    for text in texts:
        assert len(text) < REASON_LIMIT, f"{len(text)} characters: {text[:300]}..."
        assert NEVER_SUGGESTED not in text


def test_one_refusal_by_five_parties_is_named_once(fed5: LocalFederation) -> None:
    dataset = "reason-once"
    declare_all(fed5, scalar(dataset), VALUES5)
    failed = run(fed5, spec(dataset, upper=5000))
    assert failed.state == "FAILED"
    assert failed.status is not None
    assert failed.status.attempts == 1  # a refusal is not retried
    _bounded(failed.texts())
    assert failed.reason.count("does not conform") == 1, failed.reason
    assert "alice, bob, carlos, david, erin: FAILED_PRECONDITION: the spec" in failed.reason


def test_a_failure_over_three_attempts_is_bounded_and_not_repeated(
    fed5: LocalFederation,
) -> None:
    dataset = "reason-retried"
    declare_all(fed5, scalar(dataset), VALUES5)
    fed5.stop_daemon("erin")
    failed = run(fed5, spec(dataset, name="retried"))
    assert failed.state == "FAILED", failed.reason
    assert failed.status is not None
    assert failed.status.attempts == 3, failed.reason
    aborted = [e for e in failed.events if e.phase == pb.PHASE_ABORTED and e.attempt]
    assert [e.party for e in aborted] == ["erin", "david", "alice"], failed.reason
    assert fed5.processes["david"].wait(10) == FAILPOINT_EXIT
    reason = failed.reason
    _bounded(failed.texts())
    assert reason.count("exact release refused") == 1, reason
    assert reason.count("aborted in phase") == 3, reason
    assert "erin: UNAVAILABLE" in reason
    assert "david: UNAVAILABLE" in reason
    assert "alice, bob, carlos: FAILED_PRECONDITION: exact release refused" in reason
