"""Shared benchmark helpers: timing, the full-scale demo database, and the report format."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.demo.loader import load_demo  # noqa: E402
from core.platform import store  # noqa: E402

AS_OF = dt.date(2026, 11, 23)


def full_db() -> store.Database:
    """The full-scale demo (about 1M contacts), built on first use and kept under data/."""
    path = Path(os.environ.get("LEADOPS_BENCH_DB", ROOT / "data" / "bench_full.duckdb"))
    fresh = not path.exists()
    db = store.Database(path)
    db.migrate()
    if fresh or db.scalar("SELECT count(*) FROM workspaces") == 0:
        t = time.perf_counter()
        load_demo(db, scale="full", seed=42, as_of=AS_OF, replace=True)
        print(
            f"# built the full demo dataset in {time.perf_counter() - t:.1f} s at {path}",
            flush=True,
        )
    return db


def best_of(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of `repeat` runs after `warmup` runs (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class Report:
    def __init__(self) -> None:
        self.ok = True

    def ratio(self, name: str, value: float, floor: float, target: float) -> None:
        r = value / floor if floor > 0 else float("inf")
        good = r <= target
        self.ok &= good
        print(
            f"{name}: {value:.3f} s | floor {floor:.3f} s | ratio {r:.2f}x | target <= {target}x | {'ok' if good else 'FAIL'}"
        )

    def absolute(self, name: str, value: float, limit: float, unit: str = "s") -> None:
        good = value < limit
        self.ok &= good
        print(f"{name}: {value:.3f} {unit} | target < {limit} {unit} | {'ok' if good else 'FAIL'}")

    def share(
        self, name: str, part: float, whole: float, limit_pct: float, unit: str, of: str
    ) -> None:
        """`part` as a percentage of `whole` (called `of` in the line), against a ceiling."""
        pct = 100.0 * part / whole if whole > 0 else float("inf")
        good = pct < limit_pct
        self.ok &= good
        print(
            f"{name}: {part:,.0f} {unit} = {pct:.2f}% of {of} | target < {limit_pct:g}% | {'ok' if good else 'FAIL'}"
        )

    def info(self, name: str, value: float, unit: str = "s") -> None:
        """A measurement without a target."""
        print(f"{name}: {value:.3f} {unit} | info")

    def finish(self) -> int:
        print(f"RESULT: {'PASS' if self.ok else 'FAIL'}")
        return 0 if self.ok else 1
