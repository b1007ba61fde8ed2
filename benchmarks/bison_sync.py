"""Email Bison sync: a full sync of 20 workspaces vs fetching the same requests with a bare loop.

A fake Email Bison (20 workspaces × 50 campaigns, 10,000 leads and 5,000 replies) is served over
real HTTP on 127.0.0.1 from its own process, as a real API server would be (in this process its
work would compete with the sync's for the interpreter lock, and be charged to the sync). The full
sync runs into a fresh database; the floor replays the requests
the fake saw during that sync (same method, path, query and JSON body, same tokens) against a
fresh fake with the same seed: 4 workspaces at once, one request after another within a workspace,
each response only parsed as JSON. A no-change incremental sync follows the full one.

Run: .venv/bin/python benchmarks/bison_sync.py [--reps N] [--quick]
Targets: the full sync <= 1.3x the floor; the incremental sync makes < 5% of its requests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import Report

from connectors.bison import BisonClient
from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.demo.sandbox import AppSlot, BisonFake, RequestRecord, serve
from core.platform import secrets
from core.platform.store import Database

Plan = list[tuple[str, list[tuple[str, str, str, bytes]]]]

SEED = 11
NOW = dt.datetime(
    2026, 11, 23, 0, 0, tzinfo=dt.UTC
)  # the fake's clock: data are identical every run
CONCURRENCY = 4
FULL = {"workspaces": 20, "campaigns_per_ws": 50, "leads_per_ws": 10_000, "replies_per_ws": 5_000}
QUICK = {"workspaces": 8, "campaigns_per_ws": 10, "leads_per_ws": 1_000, "replies_per_ws": 500}


def make_fake(sizes: dict[str, int]) -> BisonFake:
    fake = BisonFake(seed=SEED, now=NOW, **sizes)
    fake.generate_all()
    return fake


@dataclass(frozen=True)
class FakeInfo:
    """What the benchmark process needs to know of a fake: its workspaces' tokens and its date."""

    tokens: dict[int, str]
    today: dt.date

    @classmethod
    def of(cls, fake: BisonFake) -> FakeInfo:
        return cls({w: fake.token_for(w) for w in fake.workspace_ids}, fake.state.today)

    @property
    def workspace_ids(self) -> list[int]:
        return list(self.tokens)

    def token_for(self, workspace_id: int) -> str:
        return self.tokens[workspace_id]


class FakeServer:
    """The sync's fake and the floor's fake, served by a child process; commands over a pipe.

    The child is forked after both fakes are generated, so it holds identical copies. The
    benchmark process then lets go of its own (see `main`): millions of objects of fake data
    would make every full garbage collection of the process walk them, a cost no real LeadOps
    process has, charged to whichever side happens to trigger more collections.
    """

    def __init__(self, fakes: dict[str, BisonFake]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=self._child, args=(fakes, child), daemon=True)
        self._proc.start()
        self.url = self._conn.recv()

    @staticmethod
    def _child(fakes: dict[str, BisonFake], conn) -> None:
        slot = AppSlot()
        with serve(slot) as url:
            conn.send(url)
            while True:
                command, name, *args = conn.recv()
                if command == "stop":
                    conn.send(None)
                    return
                fake = fakes[name]
                if command == "use":
                    slot.app = fake
                    fake.reset_requests()
                    conn.send(None)
                elif command == "count":
                    conn.send(fake.request_count)
                elif command == "log":
                    conn.send(list(fake.requests))
                elif command == "limit":  # requests a second for the whole instance (or None)
                    fake.limit_rate(*args)
                    conn.send(None)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system)."""
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, command: str, name: str = "", *args: object) -> object:
        self._conn.send((command, name, *args))
        return self._conn.recv()

    def close(self) -> None:
        self.call("stop")
        self._proc.join(timeout=10)


@contextlib.contextmanager
def cpu_note(server: FakeServer) -> Iterator[list[str]]:
    """CPU seconds this process and the server used inside the block, as a note."""
    note = [""]
    own, theirs = time.process_time(), server.cpu_seconds()
    yield note
    note[0] = (
        f"CPU: client {time.process_time() - own:.1f} s, server {server.cpu_seconds() - theirs:.1f} s"
    )


def template_db(root: Path, fake: FakeInfo) -> Path:
    """A migrated database with one client per Bison workspace, tokens in the secret store."""
    path = root / "template.duckdb"
    db = Database(path)
    db.migrate()
    for bid in fake.workspace_ids:
        wid = workspaces.create(
            db, WorkspaceInput(name=f"Client {bid:02d}", bison_workspace_id=bid), actor="bench"
        )
        secrets.set_secret(
            db,
            secrets.bison_token_name(wid),
            fake.token_for(bid),
            kind="bison_token",
            actor="bench",
        )
    db.close()
    return path


def run_sync(db: Database, url: str, fake: FakeInfo, *, full: bool) -> tuple[float, dict]:
    def factory(token: str) -> BisonClient:
        return BisonClient(url, token, rate_per_sec=None)

    t = time.perf_counter()
    result = bison_sync.sync_bison(
        db, full=full, client_factory=factory, concurrency=CONCURRENCY, today=fake.today
    )
    elapsed = time.perf_counter() - t
    if result["failed"]:
        raise SystemExit(f"sync failed: {result['workspaces']}")
    return elapsed, result


def request_plan(log: list[RequestRecord], fake: FakeInfo) -> Plan:
    """The logged requests per workspace (in the order they were sent) with its token."""
    per_ws: dict[int, list[tuple[str, str, str, bytes]]] = defaultdict(list)
    order: list[int] = []
    for r in log:
        if r.workspace_id is None:
            raise SystemExit(f"request without a workspace in the log: {r.method} {r.path}")
        if r.workspace_id not in per_ws:
            order.append(r.workspace_id)
        per_ws[r.workspace_id].append((r.method, r.path, r.query, r.body))
    return [(fake.token_for(w), per_ws[w]) for w in order]


def floor(url: str, plan: Plan) -> float:
    """The same requests with a bare httpx loop: 4 workspaces at once, sequential within one."""

    def one(item: tuple[str, list[tuple[str, str, str, bytes]]]) -> int:
        token, requests = item
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
        json_headers = {**headers, "Content-Type": "application/json"}
        with httpx.Client(base_url=url, timeout=30.0) as client:
            for method, path, query, body in requests:
                target = f"{path}?{query}" if query else path
                if body:
                    response = client.request(method, target, content=body, headers=json_headers)
                else:
                    response = client.request(method, target, headers=headers)
                response.json()
        return len(requests)

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(one, plan))
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps", type=int, default=1, help="full syncs to time, each followed by the floor"
    )
    parser.add_argument("--quick", action="store_true", help="a small instance, for a smoke run")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL

    tmp = tempfile.TemporaryDirectory(prefix="leadops-bench-bison-")
    root = Path(tmp.name)
    os.environ["LEADOPS_KEYRING"] = "cryptfile"
    os.environ["LEADOPS_KEYRING_FILE"] = str(root / "secrets.cfg")
    os.environ["LEADOPS_KEYRING_PASSWORD"] = "bench-master-password"
    os.environ["LEADOPS_DB"] = str(root / "unused.duckdb")

    t = time.perf_counter()
    fakes = {"sync": make_fake(sizes), "floor": make_fake(sizes)}
    server = FakeServer(fakes)
    sync_fake = FakeInfo.of(fakes["sync"])
    del fakes  # the server process has them; this one keeps tokens and the date (FakeServer)
    gc.collect()
    url = server.url
    template = template_db(root, sync_fake)
    print(
        f"# fake Email Bison: {sizes['workspaces']} workspaces × {sizes['campaigns_per_ws']}"
        f" campaigns, {sizes['leads_per_ws']:,} leads, {sizes['replies_per_ws']:,} replies;"
        f" set up in {time.perf_counter() - t:.1f} s",
        flush=True,
    )
    sync_times: list[float] = []
    floor_times: list[float] = []
    plan: Plan = []
    full_requests = inc_requests = 0
    inc_time = 0.0

    def run_floor() -> None:
        server.call("use", "floor")
        with cpu_note(server) as note:
            floor_times.append(floor(url, plan))
        sent = server.call("count", "floor")
        if sent != full_requests:
            raise SystemExit(f"the floor sent {sent} requests, the sync {full_requests}")
        print(f"# floor {len(floor_times)}: {floor_times[-1]:.2f} s ({note[0]})", flush=True)

    for rep in range(max(1, args.reps)):
        path = root / f"sync-{rep}.duckdb"
        shutil.copy(template, path)
        db = Database(path)
        server.call("use", "sync")
        with cpu_note(server) as note:
            elapsed, result = run_sync(db, url, sync_fake, full=True)
        sync_times.append(elapsed)
        print(f"# full sync {rep + 1}: {elapsed:.2f} s ({note[0]})", flush=True)
        if rep == 0:
            full_requests = server.call("count", "sync")
            plan = request_plan(server.call("log", "sync"), sync_fake)
            rows: dict[str, int] = defaultdict(int)
            for r in result["workspaces"].values():
                for k, v in r["counts"].items():
                    rows[k] += v
            print(f"# full sync: {full_requests:,} requests, rows {dict(rows)}", flush=True)
        run_floor()
        if rep == 0:
            # a no-change incremental sync right after the full one, then the floor again
            server.call("use", "sync")
            inc_time, _ = run_sync(db, url, sync_fake, full=False)
            inc_requests = server.call("count", "sync")
            run_floor()
        db.close()
    server.close()
    tmp.cleanup()

    report = Report()
    report.ratio(
        "bison_sync.full", statistics.median(sync_times), statistics.median(floor_times), 1.3
    )
    report.share(
        "bison_sync.incremental_requests", inc_requests, full_requests, 5.0, "requests", "full"
    )
    report.info("bison_sync.incremental", inc_time, "s")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
