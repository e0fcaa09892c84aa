"""Preflight: the checks `mpcnode check` and `mpc-coordinator check` run, and `serve` too.

Each check answers with a `Finding`: ok, warn or fail, what it saw, and how to fix it. They
read only the daemon's own files and config (and, with `peers`, shake hands with each roster
peer); none needs the daemon to run, so an operator runs them before the first start.

`serve` runs the file checks at start and refuses to serve when one fails (a certificate of
another identity, a key that is not the certificate's, a chain that does not lead to the
configured CA, an expired or not yet valid certificate); a certificate that expires within
30 days is a warning in the log.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from mpcnode.at_rest import check_daemon_at_rest
from mpcnode.config import Roster, RosterEntry
from mpcnode.errors import MpcError, PreconditionFailed
from mpcnode.pki import Identity, Role, identity_from_cert, public_key_pin
from mpcnode.records.source import RecordSource
from mpcnode.seal_keys import load_seal_key
from mpcnode.startup import check_own_seal_key
from mpcnode.tls import TlsFiles, check_server_pin

EXPIRY_WARNING = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Finding:
    """One check's answer."""

    check: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def _guarded(check: str, fix: str, run: Callable[[], Finding]) -> Finding:
    try:
        return run()
    except MpcError as exc:
        return Finding(check, "fail", exc.message, fix)
    except (OSError, ValueError) as exc:
        return Finding(check, "fail", str(exc), fix)


def certificate_findings(
    tls: TlsFiles, role: Role, name: str | None, config_key: str, now: datetime.datetime
) -> list[Finding]:
    """The daemon's own certificate: identity, key, chain to the CA, validity dates."""
    try:
        cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    except (OSError, ValueError) as exc:
        return [Finding("certificate", "fail", f"tls.cert {tls.cert}: {exc}", "point tls.cert "
                        "at this daemon's PEM certificate (`mpcnode pki issue`)")]  # fmt: skip
    return [
        _guarded("identity", f"use the certificate issued for {config_key}, or fix the config",
                 lambda: _identity(tls, cert, role, name, config_key)),
        _guarded("key matches certificate", "point tls.key at the key issued with tls.cert",
                 lambda: _key_matches(tls, cert)),
        _guarded("chain to CA", "point tls.ca at the federation's ca.crt, or get a "
                 "certificate from this federation's CA", lambda: _chain(tls, cert)),
        _validity(tls, cert, now),
    ]  # fmt: skip


def _identity(
    tls: TlsFiles, cert: x509.Certificate, role: Role, name: str | None, config_key: str
) -> Finding:
    ident: Identity = identity_from_cert(tls.cert.read_bytes())
    if ident.role is not role or (name is not None and ident.name != name):
        wanted = f"{role.value} {name!r}" if name is not None else f"a {role.value}"
        return Finding(
            "identity", "fail",
            f"tls.cert names {ident.role.value} {ident.name!r}, {config_key} says {wanted}",
            "use the daemon's own certificate and key, or fix the config",
        )  # fmt: skip
    return Finding("identity", "ok", f"{ident.role.value} {ident.name!r}")


def _key_matches(tls: TlsFiles, cert: x509.Certificate) -> Finding:
    key = serialization.load_pem_private_key(tls.key.read_bytes(), password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        return Finding(
            "key matches certificate", "fail",
            f"tls.key {tls.key} is not the key of tls.cert {tls.cert}",
            "point tls.key at the key issued with tls.cert",
        )  # fmt: skip
    return Finding("key matches certificate", "ok", f"pin {public_key_pin(tls.cert.read_bytes())}")


def _chain(tls: TlsFiles, cert: x509.Certificate) -> Finding:
    ca = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        fingerprint = ca.fingerprint(hashes.SHA256())
        return Finding(
            "chain to CA", "fail",
            f"tls.cert was not issued by tls.ca {tls.ca} (CA {ca.subject.rfc4514_string()}, "
            f"SHA-256 fingerprint {fingerprint.hex()[:16]}...); the issuer is "
            f"{cert.issuer.rfc4514_string()}",
            "point tls.ca at the federation's ca.crt, or get a certificate from its CA",
        )  # fmt: skip
    return Finding("chain to CA", "ok", f"issued by {ca.subject.rfc4514_string()}")


def _validity(tls: TlsFiles, cert: x509.Certificate, now: datetime.datetime) -> Finding:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew = f"issue a new certificate (`mpcnode pki issue`) and restart; tls.cert {tls.cert}"
    if now > end:
        return Finding("validity", "fail", f"expired on {end:%Y-%m-%d %H:%M} UTC", renew)
    if now < start:
        return Finding("validity", "fail", f"not valid before {start:%Y-%m-%d %H:%M} UTC",
                       "check this machine's clock, or use a certificate valid now")  # fmt: skip
    if end - now < EXPIRY_WARNING:
        return Finding("validity", "warn", f"expires on {end:%Y-%m-%d} ({(end - now).days} "
                       "days)", renew)  # fmt: skip
    return Finding("validity", "ok", f"until {end:%Y-%m-%d}")


def files_findings(data_dir: Path, keys: Sequence[Path]) -> list[Finding]:
    """The data directory and private keys are private to the daemon's user."""

    def run() -> Finding:
        check_daemon_at_rest(data_dir, *keys)
        plural = "s" if len(keys) != 1 else ""
        return Finding("permissions", "ok", f"{data_dir} and {len(keys)} private key{plural}")

    return [_guarded("permissions", "chmod 700 the data directory, 600 every private key", run)]


def seal_key_finding(path: Path, roster: Roster, party_id: str, roster_file: Path) -> Finding:
    """The node's seal key file is readable and is the one the roster lists for it."""

    def run() -> Finding:
        check_own_seal_key(load_seal_key(path), roster, party_id, roster_file)
        return Finding("seal key", "ok", "the roster's key for this party")

    fix = "point seal_key at this party's key, or update the roster (`mpcnode pki seal-key`)"
    return _guarded("seal key", fix, run)


def pin_finding(roster: Roster, party_id: str, tls: TlsFiles) -> Finding:
    """The roster's pin for this party (if any) is its own certificate's key."""
    entry = roster.get(party_id)
    if entry is None:
        return Finding("roster pin", "fail", f"{party_id} is not on the roster",
                       "add a [[party]] entry for it to the roster")  # fmt: skip
    own = public_key_pin(tls.cert.read_bytes())
    if entry.pin is None:
        return Finding("roster pin", "warn", "the roster pins no key for this party",
                       f'set pin = "{own}" in its [[party]] entry')  # fmt: skip
    if entry.pin != own:
        return Finding("roster pin", "fail", f"the roster pins {entry.pin}, tls.cert has {own}",
                       "update the roster's pin everywhere, or use the pinned key")  # fmt: skip
    return Finding("roster pin", "ok", own)


def port_finding(listen: str, check: str = "listen port") -> Finding:
    """The listen address can be bound now (nothing else serves on it)."""
    host, _, port = listen.rpartition(":")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            return Finding(check, "fail", f"{listen}: {exc.strerror}",
                           "stop what serves there (another copy?) or change listen")  # fmt: skip
    return Finding(check, "ok", f"{listen} is free")


def peer_findings(roster: Roster, tls: TlsFiles, skip: str, timeout: float = 5.0) -> list[Finding]:
    """Each roster peer answers a TLS handshake as itself, with its pinned key."""
    findings = []
    for entry in roster.party:
        if entry.id == skip:
            continue
        check = f"peer {entry.id}"

        def run(entry: RosterEntry = entry, check: str = check) -> Finding:
            host, _, port = entry.address.rpartition(":")
            identity = Identity(Role.PARTY, entry.id)
            check_server_pin(host.strip("[]"), int(port), tls, identity, entry.pin, timeout)
            pinned = " (pin checked)" if entry.pin else ""
            return Finding(check, "ok", f"{entry.address} answers as {entry.id}{pinned}")

        fix = f"start {entry.id}'s node, or fix its address or pin in the roster"
        findings.append(_guarded(check, fix, run))
    return findings


def records_findings(sources: Mapping[str, RecordSource]) -> list[Finding]:
    """Each records dataset's source: its file readable by this user, or, for PostgreSQL,
    the driver installed (the connection itself is tried by `mpcnode load`)."""
    findings = []
    for dataset, source in sources.items():
        check = f"records source of {dataset}"
        if not source.is_file:
            try:
                import psycopg  # noqa: F401, PLC0415 (only whether it is installed)
            except ImportError:
                fix = "pip install 'mpcnode[postgres]' in the daemon's environment"
                findings.append(Finding(check, "fail", "psycopg is not installed", fix))
                continue
            detail = f"postgres {source.where} (connected to by `mpcnode load`)"
            findings.append(Finding(check, "ok", detail))
            continue
        path = source.path
        if not path.is_file():
            fix = f"fix [datasets.{dataset}.source] {source.kind}, or put the file there"
            findings.append(Finding(check, "fail", f"{path}: no such file", fix))
        elif not os.access(path, os.R_OK):
            fix = "make it readable by the daemon's user (e.g. chgrp mpcnode; chmod g+r)"
            findings.append(Finding(check, "fail", f"{path}: not readable by this user", fix))
        else:
            size = path.stat().st_size
            findings.append(Finding(check, "ok", f"{source.kind} {path} ({size} bytes)"))
    return findings


def daemon_findings(
    tls: TlsFiles,
    identity: tuple[Role, str | None, str],
    data_dir: Path,
    keys: Sequence[Path],
    ports: Sequence[tuple[str, str]],
) -> list[Finding]:
    """What both daemons check: their certificate (`identity` = role, name, config key), data
    directory and keys, and their ports (address, what it is for; empty addresses skipped)."""
    role, name, config_key = identity
    return [
        *certificate_findings(tls, role, name, config_key, now()),
        *files_findings(data_dir, keys),
        *(port_finding(address, check) for address, check in ports if address),
    ]


def table(findings: Sequence[Finding]) -> str:
    """The findings as a table with a header: check, result, detail, how to fix."""
    rows = [("CHECK", "RESULT", "DETAIL", "HOW TO FIX")] + [
        (f.check, f.status.upper(), f.detail, f.fix) for f in findings
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}".rstrip() for r in rows
    )


def failed(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that fail."""
    return [f for f in findings if f.status == "fail"]


def refuse_bad_certificate(
    tls: TlsFiles, role: Role, name: str | None, config_key: str
) -> list[Finding]:
    """What `serve` runs at start: PreconditionFailed on the first failing certificate check
    (naming what is wrong and how to fix it); the warnings are returned for the log."""
    findings = certificate_findings(tls, role, name, config_key, now())
    for finding in failed(findings):
        raise PreconditionFailed(f"{finding.check}: {finding.detail}; {finding.fix}")
    return [f for f in findings if f.status == "warn"]


def now() -> datetime.datetime:
    """The current time, in UTC."""
    return datetime.datetime.now(datetime.UTC)
