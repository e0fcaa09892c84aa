"""Named crash points for fault tests, in the spirit of etcd's and TiKV's failpoints.

A daemon started with the environment variable MPCNODE_FAILPOINT=<name> exits at once, as
if the machine lost power, when it reaches the point <name>; with MPCNODE_FAILPOINT=stall-<name>
it stops itself there instead (SIGSTOP, as a hung machine or a paused VM: it holds its
connections but answers nothing until it gets SIGCONT). The integration tests use it
to kill a node at an exact protocol step (after its budget spend is committed and before
its partial leaves), which no signal sent from outside can hit reliably. Unset, as in any
real deployment, `hit` is a string comparison.

Points: "after-release-recorded" (node, `RoundBook.release_partial`), "before-share" (node,
`RoundBook.accept_seeds`: the node dies when handed its seeds, after it accepted Prepare),
"mid-steps" (node, `RoundBook.step`: at step 3 of a multi-step round, after its release),
"before-collect" (coordinator: every node opened its seeds, none released), "mid-collect"
(coordinator: a partial's first chunk arrived, the rest is still streaming), "after-publish" and
"after-fail" (coordinator: right after a computation's terminal state and
its event were committed, before any watcher was woken).
"""

from __future__ import annotations

import os
import signal

FAILPOINT_EXIT = 86
_ARMED = os.environ.get("MPCNODE_FAILPOINT", "")


def hit(name: str) -> None:
    """Exit the process abruptly (no cleanup, like a crash) if `name` is the armed point, or
    stop it (SIGSTOP) if `stall-<name>` is."""
    if name == _ARMED:
        os._exit(FAILPOINT_EXIT)
    if f"stall-{name}" == _ARMED:
        os.kill(os.getpid(), signal.SIGSTOP)
