"""`mpcnode health` against real daemons, and the CLIs' environment variables.

The health probe is what a container's HEALTHCHECK runs, so it must say SERVING (exit 0) for a
live daemon, given only that daemon's config, and exit 1 with a reason otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from coordinator.cli import cli as coordinator_cli
from mpcnode.commands import health as health_cli
from mpcnode.commands.health import dial_address, target_from_config
from mpcnode.commands.node import cli
from mpcnode.federation import LocalFederation, free_port
from mpcnode.pki import Identity, Role, create_ca, issue

pytestmark = pytest.mark.integration


def _health(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["health", *args])
    return result.exit_code, result.output


def _explicit(fed: LocalFederation, target: str, server: str, folder: str, stem: str) -> list[str]:
    tls = fed.tls(folder, stem)
    return [
        f"--address=127.0.0.1:{fed.ports[target]}",
        f"--server={server}",
        f"--cert={tls.cert}",
        f"--key={tls.key}",
        f"--ca={tls.ca}",
    ]


def test_a_node_probed_through_its_own_config_is_serving(fed4: LocalFederation) -> None:
    code, out = _health("--config", str(fed4.root / "alice" / "node.toml"))
    assert code == 0, out
    assert out.strip() == f"mpc://party/alice at 127.0.0.1:{fed4.ports['alice']}: SERVING"


def test_the_coordinator_probed_through_its_own_config_is_serving(fed4: LocalFederation) -> None:
    code, out = _health("--config", str(fed4.root / "coordinator" / "coordinator.toml"))
    assert code == 0, out
    assert "mpc://coordinator/coordinator" in out and out.strip().endswith("SERVING")


def test_any_federation_certificate_may_probe_any_daemon(fed4: LocalFederation) -> None:
    args = _explicit(fed4, "alice", "mpc://party/alice", "analyst", "analyst")
    code, out = _health(*args, "--service", "mpc.v1.Local")
    assert code == 0, out
    assert "(mpc.v1.Local): SERVING" in out


def test_a_daemon_that_is_not_the_expected_identity_is_unhealthy(fed4: LocalFederation) -> None:
    # bob's name at alice's address: the TLS name check fails, so does the probe.
    code, out = _health(*_explicit(fed4, "alice", "mpc://party/bob", "bob", "bob"))
    assert code == 1
    assert "UNAVAILABLE" in out and "mpc://party/bob" in out


def test_an_unknown_service_is_not_found(fed4: LocalFederation) -> None:
    args = _explicit(fed4, "bob", "mpc://party/bob", "bob", "bob")
    code, out = _health(*args, "--service", "mpc.v1.NoSuchService")
    assert code == 1
    assert "NOT_FOUND" in out


def test_a_certificate_of_another_ca_is_refused(fed4: LocalFederation, tmp_path: Path) -> None:
    create_ca(tmp_path / "ca", "other")
    issue(tmp_path / "ca", tmp_path, Identity(Role.ANALYST, "mallory"), ())
    code, out = _health(
        f"--address=127.0.0.1:{fed4.ports['alice']}",
        "--server=mpc://party/alice",
        f"--cert={tmp_path / 'mallory.crt'}",
        f"--key={tmp_path / 'mallory.key'}",
        f"--ca={tmp_path / 'ca.crt'}",
    )
    assert code == 1
    assert "UNAVAILABLE" in out


def test_a_daemon_that_is_down_is_unhealthy_within_the_timeout(fed4: LocalFederation) -> None:
    tls = fed4.tls("alice", "alice")
    code, out = _health(
        f"--address=127.0.0.1:{free_port()}",
        "--server=mpc://party/alice",
        f"--cert={tls.cert}",
        f"--key={tls.key}",
        f"--ca={tls.ca}",
        "--timeout=2",
    )
    assert code == 1
    assert "UNAVAILABLE" in out


def test_a_status_other_than_serving_fails_the_probe(
    fed4: LocalFederation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health_cli, "probe", lambda *args: "NOT_SERVING")
    code, out = _health("--config", str(fed4.root / "alice" / "node.toml"))
    assert code == 1
    assert out.strip().endswith("NOT_SERVING")


def test_config_and_explicit_options_do_not_mix(fed4: LocalFederation) -> None:
    code, out = _health(
        "--config", str(fed4.root / "alice" / "node.toml"), "--address", "127.0.0.1:1"
    )
    assert code == 2
    assert "--config replaces --address" in out
    code, out = _health("--address", "127.0.0.1:1")
    assert code == 2
    assert "give --config, or all of" in out


def test_target_from_config_names_the_daemon_itself(fed4: LocalFederation) -> None:
    target = target_from_config(fed4.root / "bob" / "node.toml")
    assert target.server == Identity(Role.PARTY, "bob")
    assert target.address == f"127.0.0.1:{fed4.ports['bob']}"
    assert target.tls.key == fed4.root / "bob" / "bob.key"


@pytest.mark.parametrize(
    ("listen", "dial"),
    [
        ("0.0.0.0:7001", "127.0.0.1:7001"),
        ("[::]:7001", "[::1]:7001"),
        ("alice:7001", "alice:7001"),
        ("10.0.0.5:7001", "10.0.0.5:7001"),
    ],
)
def test_dial_address_turns_wildcards_into_loopback(listen: str, dial: str) -> None:
    assert dial_address(listen) == dial


def test_client_commands_read_their_connection_from_the_environment(
    fed4: LocalFederation,
) -> None:
    hr = fed4.tls("carlos", "carlos-hr")
    env = {
        "MPCNODE_NODE": f"127.0.0.1:{fed4.ports['carlos']}",
        "MPCNODE_PARTY": "carlos",
        "MPCNODE_CERT": str(hr.cert),
        "MPCNODE_KEY": str(hr.key),
        "MPCNODE_CA": str(hr.ca),
    }
    declare = ["submit", "--dataset", "env-vars", "--shape", "scalar", "--upper", "10", "7"]
    result = CliRunner().invoke(cli, declare, env=env)
    assert result.exit_code == 0, result.output
    assert "period 1" in result.output
    result = CliRunner().invoke(cli, ["inputs"], env=env)
    assert result.exit_code == 0, result.output
    assert "env-vars" in result.output

    analyst = fed4.tls("analyst", "analyst")
    env = {
        "MPC_COORDINATOR": f"127.0.0.1:{fed4.ports['coordinator']}",
        "MPC_CERT": str(analyst.cert),
        "MPC_KEY": str(analyst.key),
        "MPC_CA": str(analyst.ca),
    }
    result = CliRunner().invoke(coordinator_cli, ["results", "--json"], env=env)
    assert result.exit_code == 0, result.output
