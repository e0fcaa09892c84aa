"""The preflight checks (`mpcnode check`, and `serve` at start) on real certificates.

A federation CA issues alice's and bob's certificates; each test breaks one thing an
operator gets wrong (another party's key, another federation's CA, another identity, an
expired or soon-expiring certificate, a busy port) and checks the finding names it, with a
fix, and that `serve`'s check refuses what must not serve.
"""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import pytest
from cryptography import x509

from mpcnode.errors import PreconditionFailed
from mpcnode.pki import Identity, Role, create_ca, issue
from mpcnode.preflight import (
    Finding,
    certificate_findings,
    failed,
    port_finding,
    records_findings,
    refuse_bad_certificate,
    table,
)
from mpcnode.records.source import RecordSource
from mpcnode.tls import TlsFiles


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, TlsFiles]:
    create_ca(tmp_path / "ca", "probe")
    create_ca(tmp_path / "other-ca", "elsewhere")
    files = {}
    for name in ("alice", "bob"):
        out = issue(tmp_path / "ca", tmp_path / name, Identity(Role.PARTY, name), ("localhost",))
        files[name] = TlsFiles(out.cert, out.key, out.ca)
    stranger = issue(
        tmp_path / "other-ca", tmp_path / "stranger", Identity(Role.PARTY, "alice"), ()
    )
    files["stranger"] = TlsFiles(stranger.cert, stranger.key, files["alice"].ca)
    return files


def _now() -> datetime.datetime:
    """The time of the check: read when a test runs, not when the module was imported (a
    certificate the fixture issues later is not valid before then)."""
    return datetime.datetime.now(datetime.UTC)


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_a_good_certificate_passes_every_check(pki: dict[str, TlsFiles]) -> None:
    findings = certificate_findings(pki["alice"], Role.PARTY, "alice", "party_id", _now())
    assert [f.status for f in findings] == ["ok"] * 4
    assert table(findings).splitlines()[0].split() == [
        "CHECK",
        "RESULT",
        "DETAIL",
        "HOW",
        "TO",
        "FIX",
    ]


def test_another_partys_key_and_identity_are_named(pki: dict[str, TlsFiles]) -> None:
    alice, bob = pki["alice"], pki["bob"]
    swapped = TlsFiles(alice.cert, bob.key, alice.ca)
    found = _by_check(certificate_findings(swapped, Role.PARTY, "alice", "party_id", _now()))
    assert found["key matches certificate"].status == "fail"
    assert str(bob.key) in found["key matches certificate"].detail
    wrong = _by_check(certificate_findings(alice, Role.PARTY, "bob", "party_id", _now()))
    assert wrong["identity"].status == "fail"
    assert "'alice'" in wrong["identity"].detail and "'bob'" in wrong["identity"].detail
    with pytest.raises(PreconditionFailed, match=r"identity: .* party_id says party 'bob'"):
        refuse_bad_certificate(alice, Role.PARTY, "bob", "party_id")


def test_a_certificate_of_another_ca_names_both(pki: dict[str, TlsFiles]) -> None:
    found = _by_check(
        certificate_findings(pki["stranger"], Role.PARTY, "alice", "party_id", _now())
    )
    chain = found["chain to CA"]
    assert chain.status == "fail"
    assert "elsewhere" in chain.detail and "probe" in chain.detail and "fingerprint" in chain.detail


def test_expiry_fails_after_and_warns_within_30_days(pki: dict[str, TlsFiles]) -> None:
    end = x509.load_pem_x509_certificate(pki["alice"].cert.read_bytes()).not_valid_after_utc
    later = _by_check(
        certificate_findings(
            pki["alice"], Role.PARTY, "alice", "party_id", end + datetime.timedelta(days=1)
        )
    )
    assert later["validity"].status == "fail" and "expired on" in later["validity"].detail
    assert "pki issue" in later["validity"].fix
    soon = _by_check(
        certificate_findings(
            pki["alice"], Role.PARTY, "alice", "party_id", end - datetime.timedelta(days=10)
        )
    )
    assert soon["validity"].status == "warn" and "days" in soon["validity"].detail
    assert not failed(list(soon.values()))


def test_a_busy_port_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finding = port_finding(f"127.0.0.1:{port}")
    assert finding.status == "fail" and "in use" in finding.detail
    assert "another copy" in finding.fix


def test_a_records_source_must_be_there_and_readable(tmp_path: Path) -> None:
    present = tmp_path / "payroll.csv"
    present.write_text("gender,level,salary\n")
    sources = {
        "payroll": RecordSource(csv=present, value="salary"),
        "missing": RecordSource(csv=tmp_path / "nope.csv", value="salary"),
        "warehouse": RecordSource(postgres="postgresql://hr@db/hr", query="SELECT 1", value="v"),
    }
    found = {f.check: f for f in records_findings(sources)}
    assert found["records source of payroll"].status == "ok"
    missing = found["records source of missing"]
    assert missing.status == "fail" and "no such file" in missing.detail
    assert "[datasets.missing.source]" in missing.fix
    assert found["records source of warehouse"].status == "ok"  # psycopg is a dev dependency
