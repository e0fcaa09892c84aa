"""The local federation launcher itself (what `mpcnode demo` and these tests stand on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpcnode.errors import Unavailable
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration


def test_a_daemon_that_fails_to_start_leaves_no_daemon_running(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path, ("alice", "bob", "carlos")).setup()
    config = tmp_path / "coordinator" / "coordinator.toml"
    config.write_text("no_such_setting = 1\n" + config.read_text())
    try:
        with pytest.raises(Unavailable) as caught:
            fed.start()
        message = caught.value.message
        assert "coordinator did not start" in message
        assert "no_such_setting" in message  # the daemon's own log line says what to fix
        # The nodes started before the coordinator failed were stopped, not orphaned.
        assert fed.processes == {}
    finally:
        fed.stop()
