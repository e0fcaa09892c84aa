"""Typed, frozen configuration of the node daemon, and the pieces the coordinator shares.

One TOML file per daemon. Unknown keys are refused (a typo must not silently fall back to a
default), every default is documented here and in `examples/`, relative paths are resolved
against the config file's folder, and key material is named by path, never inline.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from mpcnode.core.accounting import Cost
from mpcnode.core.declaration import Declaration, ReleasePolicy, declaration_from_doc
from mpcnode.core.privacy import exact_decimal
from mpcnode.core.sealing import parse_seal_key
from mpcnode.errors import InvalidInput
from mpcnode.metrics import loopback_address
from mpcnode.records.source import RecordSource

_Model = TypeVar("_Model", bound=BaseModel)
PARTY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
PIN_PATTERN = r"^sha256:[0-9a-f]{64}$"
PartyId = Annotated[str, Field(pattern=PARTY_ID_PATTERN)]
Pin = Annotated[str, Field(pattern=PIN_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_address(value: str) -> str:
    """An address is host:port with a port in 1..65535 (0 only where a daemon listens)."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value)
    if not match or int(match.group(2)) > 65535:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:7001 or [::1]:7001)")
    return value


class TlsConfig(_Strict):
    """The daemon's own certificate and key, and the federation CA (all PEM paths)."""

    cert: Path
    key: Path
    ca: Path


def _check_seal_key(value: str) -> str:
    try:
        parse_seal_key(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return value


class RosterEntry(_Strict):
    """One party: its id (certificate name), address, seal key and optional TLS key pin."""

    id: PartyId
    address: str
    # The public X25519 key every seed for this party is sealed to (`mpcnode pki seal-key`
    # prints it): whoever answers at the address opens nothing without its private half.
    seal_key: str
    # When set, a connection to or from this party is refused unless its certificate's
    # public key has this SHA-256 pin, so even the CA operator cannot impersonate it.
    pin: Pin | None = None

    _address = field_validator("address")(check_address)
    _seal_key = field_validator("seal_key")(_check_seal_key)


class Roster(_Strict):
    """The parties of a federation, loaded from a shared roster file (`[[party]]` tables)."""

    party: tuple[RosterEntry, ...]

    @field_validator("party")
    @classmethod
    def _distinct(cls, parties: tuple[RosterEntry, ...]) -> tuple[RosterEntry, ...]:
        ids = [p.id for p in parties]
        if len(set(ids)) != len(ids):
            raise ValueError("a party id appears twice in the roster")
        if len(ids) < 2:
            raise ValueError("a roster needs at least two parties")
        return parties

    def get(self, party_id: str) -> RosterEntry | None:
        """The entry of `party_id`, or None when it is not on the roster."""
        return next((p for p in self.party if p.id == party_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every party id, in roster order."""
        return tuple(p.id for p in self.party)


class CoordinatorRef(_Strict):
    """Which certificate identity may drive rounds on this node."""

    name: PartyId = "coordinator"
    pin: Pin | None = None


class BudgetCap(_Strict):
    """A privacy-budget cap: the most a dataset may ever spend, per privacy unit."""

    # Total epsilon of pure-DP releases (discrete Laplace, randomized response).
    epsilon: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    # Total rho of zCDP releases (Skellam, discrete Gaussian).
    rho: float = Field(default=0.5, ge=0, allow_inf_nan=False)

    def exact(self) -> Cost:
        """The cap as exact fractions of the decimals the TOML file gave."""
        return Cost(exact_decimal(self.epsilon), exact_decimal(self.rho))


class BudgetPolicy(BudgetCap):
    """The organization's privacy budgets (DESIGN 5): a default cap and per-dataset caps.

    The cap applies to each dataset separately and to each privacy unit (organization,
    record). Once a dataset has spent its cap, every further noisy round on it is refused
    at Prepare; the organization submits a new dataset or raises the cap deliberately.
    """

    # Only to report zCDP spending as (epsilon, delta)-DP in `mpcnode budget`.
    delta: float = Field(default=1e-6, gt=0, lt=1)
    # Caps for named datasets, e.g. [policy.budget.datasets.raises] epsilon = 3.
    datasets: dict[str, BudgetCap] = Field(default_factory=dict)

    def cap_for(self, dataset: str) -> Cost:
        """The cap of one dataset."""
        return self.datasets.get(dataset, self).exact()

    def caps_for(self, decl: Declaration) -> dict[str, Cost]:
        """The lifetime caps of a declared dataset per unit: its own, else this policy's."""
        base = self.cap_for(decl.dataset)
        p = decl.policy

        def pick(value: float | None, default: Fraction) -> Fraction:
            return default if value is None else exact_decimal(value)

        record = Cost(pick(p.epsilon_cap, base.epsilon), pick(p.rho_cap, base.rho))
        org = Cost(
            pick(p.organization_epsilon_cap, record.epsilon),
            pick(p.organization_rho_cap, record.rho),
        )
        return {"organization": org, "record": record}


AllowedKind = Literal[
    "sum", "mean", "count", "histogram", "cohorts", "max", "min", "auction", "quantile",
    "threshold", "dominance", "winner_only", "small_cells",
]  # fmt: skip
EVERY_KIND: tuple[str, ...] = get_args(AllowedKind)
"""Every name `policy.allowed_kinds` takes: what a node that opts in to everything lists."""


class NodePolicy(_Strict):
    """The organization's local rules, checked at Prepare before anything leaves the node."""

    # A round must have at least this many participants, whatever the spec asks.
    min_parties: int = Field(default=3, ge=2)
    # The comparison kinds (max, min, auction, quantile, threshold) each publish something
    # no sum does (a party's exact value and who holds it, a YES/NO), and they, like a
    # dominance-checked sum and a winner-only histogram, run over Shamir shares with an
    # honest majority rather than against any n - 1 colluding: an owner opts in by name
    # small_cells (cohort tables with small cells withheld inside MPC, over Shamir shares
    # too) is allowed by default: a records dataset's owner requires it by its min_cell.
    allowed_kinds: tuple[AllowedKind, ...] = (
        "sum", "mean", "count", "histogram", "cohorts", "small_cells",
    )  # fmt: skip
    # A Prepare whose deadline is further away than this is refused.
    max_round_seconds: int = Field(default=900, ge=1)
    # Default differential-privacy budgets of every dataset-period (a declaration may set
    # its own caps).
    budget: BudgetPolicy = BudgetPolicy()


class NodeRetention(_Strict):
    """How long the node keeps its release history (the audit trail `mpcnode releases` shows)."""

    # Release records older than this many days are deleted (hourly, and by `mpcnode
    # prune`). The ledger's per-period summaries, which every rule reads, are kept whatever
    # this says, so pruning never loosens a budget or the exact-release rule. 0 keeps all.
    release_history_days: int = Field(default=0, ge=0)


DEFAULT_MIN_CELL = 5
"""The smallest cohort a records dataset publishes unless its owner says otherwise."""


class DatasetConfig(_Strict):
    """One dataset as the organization declares it in its node's config (DESIGN 3).

    `[datasets.raises]` with shape = "scalar", lower = 0, upper = 10000 declares the
    dataset `raises`; `period` names its current period (change it to start a new one).
    """

    shape: Literal["scalar", "vector", "vote", "poll", "cohorts"]
    lower: float = Field(default=0.0, allow_inf_nan=False)
    upper: float = Field(allow_inf_nan=False)
    length: int = Field(default=1, ge=1)
    fractional_bits: int = Field(default=0, ge=0, le=52)
    bins: tuple[str, ...] = ()
    unit: Literal["organization", "record"] = "organization"
    record_bound: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    period: str = "1"
    # shape = "cohorts": the group-by columns in order, each with its categories
    # ([datasets.payroll.groups] gender = ["f", "m"]), the most records, and the source.
    groups: dict[str, tuple[StrictStr | StrictInt, ...]] = Field(default_factory=dict)
    max_records: int = Field(default=0, ge=0)
    # Every release must suppress cohorts of fewer records than this; unset: 5 for
    # shape = "cohorts" (a cell of one or two would publish a person's value); 0: not required.
    min_cell: int | None = Field(default=None, ge=0)
    source: RecordSource | None = None
    # Release policy: exact (and central-DP) releases allowed; DP required; the fewest
    # parties; per-release ceilings (0: none); lifetime caps (unset: policy.budget's).
    allow_exact: bool = True
    require_dp: bool = False
    min_parties: int = Field(default=0, ge=0)
    max_epsilon: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_rho: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    epsilon_cap: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    rho_cap: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    organization_epsilon_cap: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    organization_rho_cap: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    def declaration(self, name: str) -> Declaration:
        """The declaration of dataset `name` (InvalidInput when it does not hold together)."""
        doc = self.model_dump(exclude={"period", "source", "groups"})
        if self.shape == "cohorts":
            if self.source is None:
                raise InvalidInput(f"[datasets.{name}]: shape = cohorts needs a [.source] table")
            doc["groups"] = [[c, [str(x) for x in cats]] for c, cats in self.groups.items()]
            doc["min_cell"] = DEFAULT_MIN_CELL if self.min_cell is None else self.min_cell
            doc["length"] = math.prod(len(cats) for cats in self.groups.values())
        elif self.source is not None:
            raise InvalidInput(f"[datasets.{name}]: a source is for shape = cohorts")
        else:
            doc["min_cell"] = self.min_cell or 0
        policy = {k: doc.pop(k) for k in list(doc) if k in _POLICY_KEYS}
        decl = declaration_from_doc({**doc, "dataset": name, "policy": policy})
        try:
            decl.check()
        except InvalidInput as exc:
            raise InvalidInput(f"[datasets.{name}]: {exc.message}") from None
        return decl


_POLICY_KEYS = {f.name for f in dataclasses.fields(ReleasePolicy)}


class MetricsConfig(_Strict):
    """The Prometheus endpoint (`mpcnode.metrics`): off unless `listen` is set."""

    # A loopback address such as "127.0.0.1:9464" (plain HTTP: loopback only); "" is off.
    listen: str = ""

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if value:
            loopback_address(value)
        return value


class NodeConfig(_Strict):
    """The node daemon's config file (see examples/node.toml)."""

    party_id: PartyId
    # One TLS port serves round control, peer shares, the local API and health.
    listen: str
    data_dir: Path
    roster_file: Path
    tls: TlsConfig
    # This party's X25519 seal key (private, 0600); the roster carries its public half.
    seal_key: Path
    coordinator: CoordinatorRef = CoordinatorRef()
    policy: NodePolicy = NodePolicy()
    retention: NodeRetention = NodeRetention()
    metrics: MetricsConfig = MetricsConfig()
    # The organization's declared datasets, by name: [datasets.raises] ...
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _listen = field_validator("listen")(check_address)


def _resolve(doc: dict[str, object], base: Path, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = doc.get(key)
        if isinstance(value, str):
            doc[key] = str(base / value)


def read_toml(path: Path) -> dict[str, object]:
    """Parse a TOML file, with InvalidInput naming the file and line on a syntax error."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InvalidInput(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}") from None


def resolve_paths(doc: dict[str, object], base: Path) -> dict[str, object]:
    """Make data_dir, roster_file, seal_key and tls paths absolute, relative to the config."""
    _resolve(doc, base, ("data_dir", "roster_file", "seal_key"))
    tls = doc.get("tls")
    if isinstance(tls, dict):
        _resolve(tls, base, ("cert", "key", "ca"))
    datasets = doc.get("datasets")
    for table in datasets.values() if isinstance(datasets, dict) else ():
        source = table.get("source") if isinstance(table, dict) else None
        if isinstance(source, dict):
            _resolve(source, base, ("csv", "parquet", "sqlite", "duckdb"))
    return doc


def validation_message(path: Path, exc: ValidationError) -> str:
    """A config error a person can fix: file, dotted key, and what is wrong."""
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: Path, model: type[_Model]) -> _Model:
    """Read a daemon's TOML file into `model`; InvalidInput names the file and wrong key."""
    doc = resolve_paths(read_toml(path), path.resolve().parent)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise InvalidInput(validation_message(path, exc)) from None


def load_node_config(path: Path) -> NodeConfig:
    """Read and validate a node config file."""
    return load_config(path, NodeConfig)


def load_roster(path: Path, key: str = "roster_file") -> Roster:
    """Read and validate a roster file (`[[party]]` tables with id, address, pin).

    `key` is the config key that names the file, so a missing file says what to fix.
    """
    if not path.is_file():
        raise InvalidInput(
            f"{key} = {path}: no such file; set {key} in the daemon's config to the "
            "federation's roster (paths are relative to the config file)"
        )
    try:
        return Roster.model_validate(read_toml(path))
    except ValidationError as exc:
        raise InvalidInput(validation_message(path, exc)) from None
