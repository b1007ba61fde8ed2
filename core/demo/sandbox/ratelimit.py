"""The simulated instance's request limit: one token bucket for the whole instance.

Email Bison limits requests per instance, whatever the token (its limit is not documented;
third parties quote 3,000 a minute). The fake's limit is a token bucket: ``per_sec`` tokens a
second up to ``burst``; each request takes one, and a request that finds none is answered 429
with the seconds until the next token (``Retry-After``, fractional, never below ``min_retry``).

    fake.limit_rate(50)          # 50 requests/s, a burst of one second's worth
    fake.limit_rate(None)        # unlimited again
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class InstanceLimit:
    """A thread-safe token bucket; :meth:`take` says whether a request may pass."""

    def __init__(
        self,
        per_sec: float,
        burst: float | None = None,
        *,
        min_retry: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not math.isfinite(per_sec) or per_sec <= 0:
            raise ValueError("per_sec must be a positive number of requests a second")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least one request")
        self.per_sec = float(per_sec)
        self.burst = float(burst) if burst is not None else max(1.0, self.per_sec)
        self.min_retry = float(min_retry)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self.passed = 0
        self.refused = 0

    def take(self) -> float | None:
        """``None`` when the request may pass (a token taken), else the seconds to wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.per_sec)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.passed += 1
                return None
            self.refused += 1
            return max(self.min_retry, (1.0 - self._tokens) / self.per_sec)

    def __repr__(self) -> str:
        return f"InstanceLimit({self.per_sec:g}/s, burst {self.burst:g})"
