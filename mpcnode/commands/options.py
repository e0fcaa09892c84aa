"""What every command of both CLIs shares: logging, error display, TLS and serve options."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from pythonjsonlogger.json import JsonFormatter

from mpcnode.errors import MpcError
from mpcnode.log_context import FIELDS, ContextFilter, TextFormatter

_F = TypeVar("_F", bound=Callable[..., Any])


LOG_FORMATS = ("auto", "json", "text")


def setup_logging(level: str, log_format: str = "auto") -> None:
    """Log lines to stderr, as JSON objects (`json`; `auto` when stderr is not a terminal)
    or text, each with time, level, source and the round's context (never data: STYLE 11)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                ["asctime", "levelname", "name", "message", *FIELDS],
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("grpc._cython.cygrpc").addFilter(CallerGone())


class CallerGone(logging.Filter):
    """gRPC logs an ERROR with a traceback when a streaming call's caller goes away mid-stream
    (`ExecuteBatchError ... [/mpc.v1.RoundControl/CollectPartial]`, e.g. the coordinator was
    restarted while it collected a partial). For a daemon that is an expected failure: it
    becomes one WARNING line. Tracebacks are for bugs."""

    _METHOD = re.compile(r"\[(/[^\]]+)\]")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the caller-gone record in place; keep every record."""
        message = record.getMessage()
        if "ExecuteBatchError" in message:
            found = self._METHOD.search(message)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "the caller went away while %s was streaming its reply"
            record.args = (found.group(1) if found else "a call",)
            record.exc_info, record.exc_text = None, None
        return True


def friendly_errors(fn: _F) -> _F:
    """Show an MpcError as one readable line with its status, not a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MpcError as err:
            raise click.ClickException(f"{err.status}: {err.message}") from None

    return wrapper  # type: ignore[return-value]


def apply_options(fn: _F, options: list[Callable[[_F], _F]]) -> _F:
    """Apply click options so they appear in `--help` in the order given."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def tls_options(cert_help: str, env_prefix: str | None = None) -> list[Callable[[_F], _F]]:
    """--cert/--key/--ca: the caller's certificate, its key, the federation CA.

    With `env_prefix`, each can also come from the environment as `<env_prefix>_CERT` etc.:
    one name for every command of a CLI (click's automatic names differ per command).
    """
    path = click.Path(exists=True, path_type=Path)

    def env(name: str) -> str | None:
        return f"{env_prefix}_{name}" if env_prefix else None

    return [
        click.option(
            "--cert",
            type=path,
            required=True,
            help=cert_help,
            envvar=env("CERT"),
            show_envvar=env_prefix is not None,
        ),
        click.option(
            "--key",
            type=path,
            required=True,
            help="Its private key.",
            envvar=env("KEY"),
            show_envvar=env_prefix is not None,
        ),
        click.option(
            "--ca",
            type=path,
            required=True,
            help="The federation CA certificate.",
            envvar=env("CA"),
            show_envvar=env_prefix is not None,
        ),
    ]


def config_option(config_help: str) -> Callable[[_F], _F]:
    return click.option(
        "--config",
        "config_path",
        required=True,
        help=config_help,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
    )


def prune_options(config_help: str, days_help: str) -> Callable[[_F], _F]:
    """--config and --days of a daemon's `prune` command."""

    def decorate(fn: _F) -> _F:
        return apply_options(
            fn,
            [
                config_option(config_help),
                click.option("--days", type=click.IntRange(min=0), help=days_help),
            ],
        )

    return decorate


def serve_options(config_help: str) -> Callable[[_F], _F]:
    """--config and --ready-file of a daemon's `serve` command."""

    def decorate(fn: _F) -> _F:
        return apply_options(
            fn,
            [
                config_option(config_help),
                click.option(
                    "--ready-file",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help="Write the bound port here once serving.",
                ),
                click.option(
                    "--log-format",
                    type=click.Choice(LOG_FORMATS),
                    default="auto",
                    show_default=True,
                    help="Log lines as JSON objects or text; auto: JSON unless stderr is a "
                    "terminal. Every line carries computation_id, round_id, phase and peer "
                    "when it has them, never a value.",
                ),
            ],
        )

    return decorate
