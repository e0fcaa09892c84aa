"""Named crash points for fault tests, in the spirit of etcd's and TiKV's failpoints.

A daemon started with the environment variable MPCNODE_FAILPOINT=<name> exits at once, as
if the machine lost power, when it reaches the point <name>. The integration tests use it
to kill a node at an exact protocol step (after its budget spend is committed and before
its partial leaves), which no signal sent from outside can hit reliably. Unset, as in any
real deployment, `hit` is a string comparison.

Points: "after-release-recorded" (node, `RoundBook.release_partial`), "before-share" (node,
`RoundBook.accept_seeds`: the node dies when handed its seeds, after it accepted Prepare).
"""

from __future__ import annotations

import os

FAILPOINT_EXIT = 86
_ARMED = os.environ.get("MPCNODE_FAILPOINT", "")


def hit(name: str) -> None:
    """Exit the process abruptly (no cleanup, like a crash) if `name` is the armed point."""
    if name == _ARMED:
        os._exit(FAILPOINT_EXIT)
