"""The Kubernetes manifests in deploy/kubernetes/ are valid and keep the promises they state.

Each resource is validated (strictly: no unknown field) against the Kubernetes API schemas
with `kubernetes-validate`; the embedded daemon configs parse as their daemon's config; and
the node's NetworkPolicy lets nothing out but DNS, the pods run as the image's user with no
privilege, and keys reach the daemon only through a volume it alone can read.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from coordinator.config import CoordinatorConfig
from mpcnode.config import NodeConfig

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
K8S_VERSION = "1.30.0"


def _resources(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_resource_validates_strictly(path: Path) -> None:
    kinds = []
    for resource in _resources(path):
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        kinds.append(resource["kind"])
    assert kinds == ["ConfigMap", "Service", "StatefulSet", "NetworkPolicy"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_pods_are_locked_down_and_probed(path: Path) -> None:
    by_kind = {r["kind"]: r for r in _resources(path)}
    config = tomllib.loads(by_kind["ConfigMap"]["data"]["config.toml"])
    model = CoordinatorConfig if path.name == "coordinator.yaml" else NodeConfig
    model.model_validate(config)  # every key known, every value well formed
    pod = by_kind["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    for container in pod["initContainers"] + pod["containers"]:
        locked = container["securityContext"]
        assert locked["allowPrivilegeEscalation"] is False
        assert locked["capabilities"] == {"drop": ["ALL"]}
    main = pod["containers"][0]
    assert main["readinessProbe"]["exec"]["command"][:2] == ["mpcnode", "health"]
    assert "check" in pod["initContainers"][1]["command"]
    secret = next(v for v in pod["volumes"] if "secret" in v)
    assert not any(m["name"] == secret["name"] for m in main["volumeMounts"])  # copied out
    assert by_kind["StatefulSet"]["spec"]["replicas"] == 1


def test_a_node_lets_nothing_out_but_dns() -> None:
    (node,) = [p for p in MANIFESTS if p.name.startswith("node-")]
    policy = {r["kind"]: r for r in _resources(node)}["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ports = [p["port"] for rule in policy["egress"] for p in rule["ports"]]
    assert set(ports) == {53} and all("to" not in rule for rule in policy["egress"])
    assert [p["port"] for rule in policy["ingress"] for p in rule["ports"]] == [7001]
