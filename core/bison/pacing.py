"""How many workspaces a sync fetches at once, adapted to the instance's limit.

Requests within a workspace go one after another, so the workspaces fetched at once bound how
fast a sync can go: against a real instance each request spends most of its time on the
network, and a few workspaces at once cannot fill a limit of fifty requests a second. While the
sync's pacer holds few requests back (it is not what limits them) and Email Bison has not
refused any, each workspace that finishes lets one more start, up to `MAX_AT_ONCE`; a 429
halves the number (additive increase, multiplicative decrease, as the pacer does with requests).
Without any limit in play (none known and none learned yet) the number stays where it started.
"""

from __future__ import annotations

import threading

from connectors.http import InstancePacer

MAX_AT_ONCE = 16  # the most workspaces at once (the setting's own maximum)
HELD_ENOUGH = 0.5  # the pacer holds back at least this share: the budget is in use


class WorkspaceGate:
    """Lets a workspace start when fewer than `slots` are running; adapts `slots`."""

    def __init__(self, pacer: InstancePacer, start: int, ceiling: int = MAX_AT_ONCE) -> None:
        self.pacer = pacer
        self.slots = max(1, int(start))
        self.ceiling = max(self.slots, int(ceiling))
        self.running = 0
        self.most = 0  # the most that ran at once
        self._throttled = pacer.throttled
        self._cond = threading.Condition()

    def enter(self) -> None:
        with self._cond:
            while self.running >= self.slots:
                self._cond.wait(timeout=1.0)
            self.running += 1
            self.most = max(self.most, self.running)

    def leave(self) -> None:
        with self._cond:
            self.running -= 1
            throttled = self.pacer.throttled
            if throttled > self._throttled:
                self.slots = max(1, self.slots // 2)
            elif self.pacer.rate is not None:
                held = self.pacer.held_share()
                if held is not None and held < HELD_ENOUGH:
                    self.slots = min(self.ceiling, self.slots + 1)
            self._throttled = throttled
            self._cond.notify_all()
