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


SCALES = {"1x": ("full", "bench_full.duckdb"), "10x": ("10x", "bench_10x.duckdb")}


def bench_scale() -> str:
    """The dataset scale asked for: `--scale 1x|10x` on the command line (default 1x)."""
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--scale" and i + 1 < len(args) else None
        if arg.startswith("--scale="):
            value = arg.split("=", 1)[1]
        if arg == "--scale" or arg.startswith("--scale="):
            if value not in SCALES:
                raise SystemExit(f"--scale must be one of {', '.join(SCALES)}, not {value!r}")
            return value
    return "1x"


def full_db(scale: str | None = None) -> store.Database:
    """The full-scale demo (1x: about 1M contacts; 10x: 200 clients, about 10M contacts), built
    on first use and kept under data/."""
    demo_scale, name = SCALES[scale or bench_scale()]
    default = ROOT / "data" / name
    path = Path(
        os.environ.get("LEADOPS_BENCH_DB", default) if name == "bench_full.duckdb" else default
    )
    fresh = not path.exists()
    db = store.Database(path)
    db.migrate()
    if fresh or db.scalar("SELECT count(*) FROM workspaces") == 0:
        t = time.perf_counter()
        load_demo(db, scale=demo_scale, seed=42, as_of=AS_OF, replace=True)
        print(
            f"# built the {demo_scale} demo dataset in {time.perf_counter() - t:.1f} s at {path}",
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
