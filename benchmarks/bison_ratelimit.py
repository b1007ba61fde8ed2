"""Email Bison sync at the instance's rate limit: 27 workspaces against a fake allowing 50 requests/s.

The fake (served from its own process, as in bison_sync.py) answers 429 with Retry-After once
its instance-wide token bucket (50 a second, a second's burst) is empty. A full sync of 27
workspaces runs into a fresh database twice:

* with the limit known (`bison_rate_limit_per_sec` = 50): the floor is the time the requests
  it needed take at exactly the limit (answered requests ÷ 50 s); target <= 1.15x, with fewer
  than 1% of the requests answered 429;
* with the limit not known (the setting at 0): the sync finds it from the 429s; its time
  against the same floor and its share of 429s are reported.

Run: .venv/bin/python benchmarks/bison_ratelimit.py [--quick] [--limit 50]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bison_sync import FakeInfo, FakeServer, cpu_note, make_fake, template_db
from common import Report

from connectors.bison import BisonClient
from core.bison import sync as bison_sync
from core.platform import settings
from core.platform.store import Database

WORKSPACES = 27
SIZES = {
    "workspaces": WORKSPACES,
    "campaigns_per_ws": 6,
    "leads_per_ws": 300,
    "replies_per_ws": 150,
}
QUICK = {"workspaces": WORKSPACES, "campaigns_per_ws": 2, "leads_per_ws": 45, "replies_per_ws": 30}


def limited_sync(
    server: FakeServer, template: Path, root: Path, info: FakeInfo, name: str, known: float
) -> tuple[float, int, int, dict]:
    """A full sync into a copy of the template: (seconds, answered requests, 429s, pacing)."""
    path = root / f"{name}.duckdb"
    shutil.copy(template, path)
    db = Database(path)
    settings.set_value(db, "bison_rate_limit_per_sec", known, actor="bench")
    server.call("use", name)
    url = server.url

    def factory(token: str) -> BisonClient:
        return BisonClient(url, token, rate_per_sec=None)

    with cpu_note(server) as note:
        t = time.perf_counter()
        result = bison_sync.sync_bison(db, full=True, client_factory=factory, today=info.today)
        elapsed = time.perf_counter() - t
    db.close()
    if result["failed"]:
        raise SystemExit(f"sync failed: {result['workspaces']}")
    log = server.call("log", name)
    refused = sum(1 for r in log if r.status == 429)
    return elapsed, len(log) - refused, refused, {**result["pacing"], "cpu": note[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workspaces, for a smoke run")
    parser.add_argument("--limit", type=float, default=50.0, help="the fake's requests a second")
    args = parser.parse_args()
    sizes = QUICK if args.quick else SIZES

    tmp = tempfile.TemporaryDirectory(prefix="leadops-bench-ratelimit-")
    root = Path(tmp.name)
    os.environ["LEADOPS_KEYRING"] = "cryptfile"
    os.environ["LEADOPS_KEYRING_FILE"] = str(root / "secrets.cfg")
    os.environ["LEADOPS_KEYRING_PASSWORD"] = "bench-master-password"
    os.environ["LEADOPS_DB"] = str(root / "unused.duckdb")

    fakes = {"known": make_fake(sizes), "learned": make_fake(sizes)}
    server = FakeServer(fakes)
    info = FakeInfo.of(fakes["known"])
    del fakes
    gc.collect()
    template = template_db(root, info)
    for name in ("known", "learned"):
        server.call("limit", name, args.limit)
    print(
        f"# fake Email Bison limited to {args.limit:g} requests/s: {sizes['workspaces']}"
        f" workspaces × {sizes['campaigns_per_ws']} campaigns, {sizes['leads_per_ws']} leads,"
        f" {sizes['replies_per_ws']} replies",
        flush=True,
    )
    report = Report()
    results = {}
    for name, known in (("known", args.limit), ("learned", 0.0)):
        elapsed, answered, refused, pacing = limited_sync(server, template, root, info, name, known)
        results[name] = (elapsed, answered, refused)
        print(
            f"# {name} limit: {elapsed:.1f} s, {answered:,} requests answered, {refused} answered"
            f" 429; pacer {pacing}",
            flush=True,
        )
    server.close()
    tmp.cleanup()

    elapsed, answered, refused = results["known"]
    report.ratio("bison_ratelimit.known", elapsed, answered / args.limit, 1.15)
    report.share("bison_ratelimit.known_429", refused, answered + refused, 1.0, "429s", "requests")
    elapsed, answered, refused = results["learned"]
    floor = answered / args.limit
    report.info("bison_ratelimit.learned_ratio", elapsed / floor, "x the floor")
    report.info("bison_ratelimit.learned_429_pct", 100.0 * refused / (answered + refused), "%")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
