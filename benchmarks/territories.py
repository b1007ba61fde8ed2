"""Territories: the all-ZIPs map payload and time to interactive, and assigning 5,000 ZIPs.

1. territories.map_payload — the JSON of the map figure with every US ZIP code (≈42k points)
   as Streamlit sends it to the browser. Target < 5 MB.
2. territories.map_interactive — the app in headless Chromium: from opening the Territories page
   until the map has drawn every point and accepts a drag (reported, no target).
3. territories.assign_5000 — preview plus apply (change set, items for undo, one audit entry) of
   5,000 unassigned ZIPs to one client, against the floor: a bare INSERT … SELECT of the same
   5,000 rows into zip_assignments. Target < 1 s.

Uses the full-scale demo database (about 1M contacts). Run: .venv/bin/python benchmarks/territories.py
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import plotly.io as pio
from common import ROOT, Report, full_db

from core.accounts.access import User
from core.platform import settings
from core.platform.scope import Scope
from core.territories import assignments as territories
from core.territories.geo import ZipFilter
from pages.components.territory_maps import zip_map_for

CHROMIUM = os.environ.get("LEADOPS_CHROMIUM", "/usr/bin/chromium")
USER = User(email="bench@agency.test", role="admin")
MAP_READY = """(expected) => {
    const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    try {
        const points = plot.calcdata.reduce((n, cd) => n + cd.length, 0);
        const map = plot._fullLayout.map._subplot.map;
        return points === expected && map.loaded() && !map.isMoving();
    } catch (e) { return false; }
}"""


def assign_5000(db, report: Report) -> None:
    wid = db.scalar("SELECT min(id) FROM workspaces")
    zips = [
        r[0]
        for r in db.rows(
            "SELECT zip FROM us_zip_codes WHERE zip NOT IN (SELECT zip FROM zip_assignments)"
            " ORDER BY zip LIMIT 5000"
        )
    ]
    assert len(zips) == 5000
    times, floors = [], []
    for _ in range(6):
        t = time.perf_counter()
        preview = territories.preview_assign(db, wid, zips)
        result = territories.assign(db, USER, wid, zips)
        times.append(time.perf_counter() - t)
        assert preview.counts["new"] == 5000 and result.added == 5000
        territories.undo_last(db, USER)

        with db.transaction() as cur:
            cur.execute("CREATE OR REPLACE TABLE bench_sel AS SELECT unnest(?) AS zip", [zips])
        t = time.perf_counter()
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO zip_assignments (zip, workspace_id, assigned_by)"
                " SELECT zip, ?, 'bench' FROM bench_sel",
                [wid],
            )
        floors.append(time.perf_counter() - t)
        db.execute("DELETE FROM zip_assignments WHERE assigned_by = 'bench'")
    db.execute("DROP TABLE IF EXISTS bench_sel")
    value, floor = statistics.median(times[1:]), statistics.median(floors[1:])
    good = value < 1.0
    report.ok &= good
    print(
        f"territories.assign_5000: {value:.3f} s | floor {floor:.3f} s | ratio {value / floor:.2f}x"
        f" | target < 1 s | {'ok' if good else 'FAIL'}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def map_interactive(db_path: Path, points: int, report: Report) -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="leadops-bench-territories-"))
    copy = work / "leadops.duckdb"
    shutil.copy(db_path, copy)
    from core.platform import store

    bench_copy = store.Database(copy)
    settings.set_value(bench_copy, "territory_map_style", "white-bg", actor="bench")  # offline
    bench_copy.close()
    port = free_port()
    env = {
        **os.environ,
        "LEADOPS_DB": str(copy),
        "LEADOPS_KEYRING": "cryptfile",
        "LEADOPS_KEYRING_FILE": str(work / "secrets.cfg"),
        "LEADOPS_KEYRING_PASSWORD": "bench",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                headless=True,
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1200})
            page.goto(url)  # warm the app's caches (not timed), as a returning user finds it
            page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=120_000)
            page.goto(f"{url}/territories")
            page.wait_for_function(MAP_READY, arg=points, timeout=180_000)
            page.close()
            timings = []
            for _ in range(2):
                page = browser.new_page(viewport={"width": 1440, "height": 1200})
                t = time.perf_counter()
                page.goto(f"{url}/territories")
                page.wait_for_function(MAP_READY, arg=points, timeout=180_000, polling=100)
                timings.append(time.perf_counter() - t)
                page.close()
            browser.close()
        report.info("territories.map_interactive", min(timings))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    report = Report()
    db = full_db()
    fig, _, drawn = zip_map_for(db, Scope.all(), ZipFilter(), "white-bg")
    payload = len(pio.to_json(fig, validate=False).encode("utf-8"))
    good = payload < 5_000_000
    report.ok &= good
    print(
        f"territories.map_payload: {payload / 1e6:.2f} MB for {drawn:,} ZIPs | target < 5 MB"
        f" | {'ok' if good else 'FAIL'}"
    )
    assign_5000(db, report)
    path = db.path
    db.close()
    map_interactive(path, drawn, report)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
