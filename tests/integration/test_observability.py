"""What an operator watches on real daemons: the Prometheus endpoints and the JSON logs.

A sum and a max run on a federation with metrics on; the test scrapes the coordinator and a
node and checks the series an operator needs are there, reads the daemons' logs (JSON, since
their stderr is a file) for the round's context on every line, and checks that no input, no
share and no unnoised aggregate can be read in either: the inputs are distinctive numbers,
and neither they nor their sum appear anywhere in any scrape or log.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from integration_helpers import log_records, running_federation, scalar, submit_all

from mpcnode.config import EVERY_KIND, load_node_config
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import InvalidInput
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration
PARTIES = ("alice", "bob", "carlos")
VALUES = {"alice": 7_777_771, "bob": 5_555_553, "carlos": 3_333_337}
SECRETS = [*map(str, VALUES.values()), str(sum(VALUES.values())), "7777771", "5555553"]


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    root = tmp_path_factory.mktemp("metrics")
    policy = {"allowed_kinds": list(EVERY_KIND)}
    with running_federation(root, PARTIES, metrics=True, policy=policy) as federation:
        yield federation


def _scrape(fed: LocalFederation, daemon: str) -> str:
    url = f"http://127.0.0.1:{fed.metrics_ports[daemon]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{series} not in the scrape"
    return float(match.group(1))


def test_metrics_show_the_rounds_and_never_a_value(fed: LocalFederation) -> None:
    for dataset in ("m-sum", "m-max"):
        submit_all(fed, dataset, {p: [v] for p, v in VALUES.items()}, scalar(dataset, 10**7))
    with fed.analyst() as analyst:
        analyst.run(ComputationSpec("s", Kind.SUM, "m-sum", 0, 10**7, min_parties=3))
        analyst.run(ComputationSpec("m", Kind.MAX, "m-max", 0, 10**7, min_parties=3))
    coordinator, node = _scrape(fed, "coordinator"), _scrape(fed, "alice")

    assert _value(coordinator, 'mpc_rounds_total{outcome="published",phase="partial"}') == 1
    assert _value(coordinator, 'mpc_rounds_total{outcome="published",phase="compute"}') == 1
    assert _value(coordinator, 'mpc_computations_total{outcome="published"}') == 2
    assert _value(coordinator, "mpc_computations_in_flight") == 0
    assert _value(coordinator, "mpc_peers_reachable") == 3
    assert _value(coordinator, 'mpc_peer_up{peer="bob"}') == 1
    assert _value(coordinator, 'mpc_phase_seconds_count{phase="compute"}') == 1
    assert _value(coordinator, 'mpc_bytes_sent_total{peer="alice"}') > 0
    assert 'mpc_build_info{daemon="mpc-coordinator"' in coordinator

    assert _value(node, 'mpcnode_round_calls_total{method="Prepare",status="OK"}') == 2
    assert _value(node, 'mpcnode_round_calls_total{method="Step",status="OK"}') > 10
    assert _value(node, 'mpcnode_releases_total{kind="sum"}') == 1
    assert _value(node, 'mpcnode_releases_total{kind="max"}') == 1
    assert 'mpcnode_budget_remaining_epsilon{dataset="m-sum@1",unit="organization"}' in node
    assert 'mpc_build_info{daemon="mpcnode"' in node

    for text in (coordinator, node, _scrape(fed, "bob"), _scrape(fed, "carlos")):
        for secret in SECRETS:
            assert secret not in text.replace(".", "").replace("e+0", ""), secret


def test_logs_are_json_lines_with_the_round_context_and_no_value(fed: LocalFederation) -> None:
    submit_all(fed, "m-logs", {p: [v] for p, v in VALUES.items()}, scalar("m-logs", 10**7))
    with fed.analyst() as analyst:
        analyst.run(
            ComputationSpec(
                "l",
                Kind.THRESHOLD,
                "m-logs",
                0,
                10**7,
                min_parties=3,
                comparison=ComparisonOptions(at_least=Fraction(10**7)),
            )
        )
    coordinator = log_records(fed.root / "logs" / "coordinator.log")
    assert all("level" in r and "time" in r for r in coordinator), coordinator[:3]
    published = [r for r in coordinator if "published" in r["message"] and r.get("round_id")]
    assert published and all(r["computation_id"] for r in published)
    node = log_records(fed.root / "logs" / "alice.log")
    prepared = [r for r in node if "prepared" in r["message"]]
    assert prepared and all(r["round_id"] and r["phase"] == "Prepare" for r in prepared)
    for name in ("coordinator", *PARTIES):
        text = (fed.root / "logs" / f"{name}.log").read_text()
        for secret in SECRETS:
            assert secret not in text, (name, secret)


def test_a_refusal_is_counted_by_its_status(fed: LocalFederation) -> None:
    submit_all(fed, "m-refused", {p: [v] for p, v in VALUES.items()}, scalar("m-refused", 10**7))
    with fed.analyst() as analyst, pytest.raises(Exception, match="does not conform"):
        analyst.run(ComputationSpec("r", Kind.SUM, "m-refused", 0, 10**6, min_parties=3))
    node = _scrape(fed, "alice")
    assert (
        _value(node, 'mpcnode_round_calls_total{method="Prepare",status="FAILED_PRECONDITION"}')
        >= 1
    )


def test_metrics_listen_only_on_loopback(tmp_path: Path, fed: LocalFederation) -> None:
    text = (fed.root / "alice" / "node.toml").read_text()
    assert re.search(r'\[metrics\]\s*listen = "127\.0\.0\.1:\d+"', text)
    config = tmp_path / "node.toml"
    for address in ("0.0.0.0:9464", "10.1.2.3:9464", "example.com:9464", "127.0.0.1:0"):
        config.write_text(re.sub(r'(\[metrics\]\s*listen = )"[^"]*"', rf'\1"{address}"', text))
        with pytest.raises(InvalidInput, match=r"metrics\].*loopback"):
            load_node_config(config)
