"""Pacing every request to one API instance, across all the clients that share it.

An API that limits requests per instance (Email Bison does, whatever the token) is best used at
its limit and no faster: one :class:`InstancePacer` is shared by the clients of every workspace a
sync fetches at once (``make_client(..., pacer=pacer)`` or ``client.pacer = pacer``), and each
request passes through it.

It adapts in the way TCP does (additive increase, multiplicative decrease), on two knobs:

* **rate**: requests a second, spaced evenly. With a known limit it starts there and never goes
  above it; without one it starts unpaced and, at the first 429, settles at a share of the rate
  it was observed to send. A 429 cuts it (``decrease``, at most once per ``cooldown``). Every
  second without one adds requests a second back: quickly (a quarter of the rate that was cut)
  up to nine tenths of that rate, then slowly (2% of it a second) to probe for more, never above
  the known limit and only while the clients use the rate they have; ``increase`` sets a fixed
  step instead. Up to ``burst_seconds`` of unused rate may be made up after a stall.
* **concurrency**: requests in flight at once. A 429 halves the window; each answered request
  widens it by ``1 / window`` (one more per window's worth of answers), up to ``max_in_flight``.

A 429's ``Retry-After`` holds every request back until it has passed, not just the one refused.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable


class InstancePacer:
    """Shared, thread-safe pacing for one API instance (see the module docstring)."""

    def __init__(
        self,
        limit_per_sec: float | None = None,
        *,
        max_in_flight: int = 64,
        decrease: float = 0.7,
        increase: float | None = None,
        min_rate: float = 0.5,
        burst_seconds: float = 0.5,
        cooldown: float = 1.0,
        default_retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit_per_sec is not None and (not math.isfinite(limit_per_sec) or limit_per_sec < 0):
            raise ValueError("limit_per_sec must be a positive number of requests a second")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.limit = float(limit_per_sec) if limit_per_sec else None
        self.rate: float | None = self.limit  # None: unpaced (no limit known or learned yet)
        self.max_in_flight = max(1, int(max_in_flight))
        self.window = float(self.max_in_flight)
        self.decrease = float(decrease)
        self._increase = increase
        self.min_rate = float(min_rate)
        self.burst_seconds = float(burst_seconds)
        self.cooldown = float(cooldown)
        self.default_retry_after = float(default_retry_after)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._next = clock()  # the earliest moment the next request may go
        self._resume_at = 0.0  # no request before this (a Retry-After)
        self._grown_at = clock()
        self._cut_at = -math.inf
        self._cut_from: float | None = None  # the rate the last cut was made from
        self._sent: collections.deque[float] = collections.deque()  # send times, last 2 s
        self._held: collections.deque[tuple[float, bool]] = collections.deque()  # (when, held)
        self.in_flight = 0
        self.requests = 0
        self.throttled = 0
        self.waited = 0.0  # seconds spent waiting here, summed over requests

    # -- what a request does ----------------------------------------------------------------

    def acquire(self) -> float:
        """Wait for a slot (window, Retry-After, rate); returns the seconds waited."""
        started = self._clock()
        with self._cond:
            while self.in_flight >= max(1, int(self.window)):
                self._cond.wait(timeout=1.0)
            self.in_flight += 1
            now = self._clock()
            self._grow(now)
            slot = max(now, self._resume_at)
            if self.rate is not None:
                slot = max(slot, self._next)
                self._next = max(self._next, slot - self.burst_seconds) + 1.0 / self.rate
            self._sent.append(slot)
            self._held.append((now, slot > now + 0.001))
            self.requests += 1
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)
        waited = self._clock() - started
        with self._cond:
            self.waited += waited
        return waited

    def release(self, status: int | None = None, retry_after: float | None = None) -> None:
        """A request acquired earlier has its answer (``status`` None: it never got one)."""
        with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            now = self._clock()
            if status == 429:
                self._on_throttled(now, retry_after)
            elif status is not None:
                self.window = min(float(self.max_in_flight), self.window + 1.0 / self.window)
            self._cond.notify_all()

    # -- adapting ---------------------------------------------------------------------------

    def _observed_rate(self, now: float) -> float:
        while self._sent and self._sent[0] < now - 2.0:
            self._sent.popleft()
        return sum(1 for t in self._sent if t >= now - 1.0) / 1.0

    def held_share(self, seconds: float = 3.0) -> float | None:
        """Of the requests of the last ``seconds``, the share the pacer held back for their
        turn (1.0: it is what limits them; near 0: something else does). None: no requests."""
        with self._cond:
            now = self._clock()
            while self._held and self._held[0][0] < now - seconds:
                self._held.popleft()
            if not self._held:
                return None
            return sum(1 for _, held in self._held if held) / len(self._held)

    def _grow(self, now: float) -> None:
        # a rate only grows while it is used: one the clients do not reach says nothing about
        # the limit (and would be a burst of 429s the moment they did)
        if self.rate is not None and self.rate <= 1.25 * self._observed_rate(now) + 1.0:
            elapsed = max(0.0, now - self._grown_at)
            recover_to = 0.9 * self._cut_from if self._cut_from else None
            if self._increase is not None:
                self.rate += self._increase * elapsed
            else:
                if recover_to is not None and self.rate < recover_to:  # quickly, to 90%
                    step = max(1.0, 0.25 * self._cut_from)
                    fast = min(elapsed, (recover_to - self.rate) / step)
                    self.rate += step * fast
                    elapsed -= fast
                probe = max(1.0, 0.02 * (self._cut_from or self.rate))
                self.rate += probe * elapsed  # then probing, linearly
            if self.limit is not None:
                self.rate = min(self.rate, self.limit)
        self._grown_at = now

    def _on_throttled(self, now: float, retry_after: float | None) -> None:
        self.throttled += 1
        wait = retry_after if retry_after is not None else self.default_retry_after
        self._resume_at = max(self._resume_at, now + wait)
        self._next = max(self._next, self._resume_at)
        if now - self._cut_at < max(self.cooldown, wait):
            return  # the other answers of the same overrun: one cut is enough
        self._cut_at = now
        self._grown_at = now
        base = self.rate if self.rate is not None else max(self.min_rate, self._observed_rate(now))
        self._cut_from = base
        self.rate = max(self.min_rate, base * self.decrease)
        self.window = max(1.0, min(self.window, float(max(1, self.in_flight + 1))) / 2.0)

    def snapshot(self) -> dict[str, float | int | None]:
        """Counters and the current rate and window (for run records and benchmarks)."""
        with self._cond:
            return {
                "limit": self.limit,
                "rate": None if self.rate is None else round(self.rate, 2),
                "window": round(self.window, 1),
                "requests": self.requests,
                "throttled": self.throttled,
                "waited": round(self.waited, 2),
            }

    def __repr__(self) -> str:
        rate = "unpaced" if self.rate is None else f"{self.rate:.1f}/s"
        return f"InstancePacer({rate}, window {self.window:.1f}, {self.throttled} throttled)"
