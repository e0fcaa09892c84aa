"""Typed, frozen configuration of the coordinator daemon (see examples/coordinator.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mpcnode.config import (
    MetricsConfig,
    PartyId,
    TlsConfig,
    check_address,
    load_config,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundSettings(_Strict):
    """Timing and retry rules of rounds."""

    # How long a node may take to answer Prepare before it counts as unreachable.
    prepare_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a node may take to open its seeds (Share), and to answer each step of a
    # multi-step round: a stalled node is blamed alone, after this, well before the round's
    # deadline (and the round retried without it when nothing was released yet).
    share_timeout_seconds: float = Field(default=10.0, gt=0)
    # From Prepare to the last partial: every node refuses the round after this.
    round_deadline_seconds: int = Field(default=120, ge=5)
    # Rounds per computation, the first included; a retry drops unreachable parties.
    max_attempts: int = Field(default=3, ge=1, le=20)
    # Calls of small rounds that queue for a node go together as one RoundControl.Batch
    # (README: How a round runs). Off: every call is its own RPC, as before batches existed.
    batch_calls: bool = True


class RetentionSettings(_Strict):
    """How long the coordinator keeps what only explains a computation's past."""

    # Events and round rows of computations that ended more than this many days ago are
    # deleted (hourly, and by `mpc-coordinator prune`); results, their outputs and every
    # computation's final state and reason are kept. 0 keeps everything.
    days: int = Field(default=30, ge=0)


class AccessSettings(_Strict):
    """Who may use the analyst API."""

    # Analyst certificate names allowed to create computations; empty means any analyst.
    analysts: tuple[PartyId, ...] = ()


class CoordinatorConfig(_Strict):
    """The coordinator's config file."""

    listen: str
    data_dir: Path
    roster_file: Path
    tls: TlsConfig
    rounds: RoundSettings = RoundSettings()
    access: AccessSettings = AccessSettings()
    retention: RetentionSettings = RetentionSettings()
    metrics: MetricsConfig = MetricsConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _listen = field_validator("listen")(check_address)


def load_coordinator_config(path: Path) -> CoordinatorConfig:
    """Read and validate a coordinator config file."""
    return load_config(path, CoordinatorConfig)
