"""Load: 20 sessions cycling Overview → Campaigns → Pipeline → Revenue on the full demo
while the server runs an Email Bison sync and an alerts check handed over by the command line.

Measures one idle session's median page time, then the p95 under load, as a ratio and in
seconds; fails on any page exception or a command that did not succeed. The server is started
as `make run` starts it (`leadops serve`), against a copy of the full demo, with three more
clients synced from a fake Email Bison served by this process.

    .venv/bin/python benchmarks/load.py [--sessions 20] [--rounds 2] [--browser]

Sessions speak Streamlit's own websocket protocol by default (what the browser sends when a
person clicks a page in the sidebar, and what the server answers until the script finishes), so
the 2-core machine measures the server rather than twenty Chromium renderers; `--browser` drives
real Chromium contexts instead (the time then includes drawing the page).
"""

from __future__ import annotations

import argparse
import asyncio
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

from common import ROOT, Report, full_db

from core.accounts import workspaces
from core.demo.sandbox import AppSlot, BisonFake, serve
from core.platform import secrets, store

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
CYCLE = [
    ("", "Overview"),
    ("campaigns", "Campaigns"),
    ("pipeline", "Pipeline"),
    ("revenue", "Revenue"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def settled(page, title: str, t: float) -> float:
    """Seconds from `t` until the page's script has finished with `title` showing."""
    heading = page.locator('[data-testid="stMainBlockContainer"] h1').first
    while True:
        try:
            text = (await heading.inner_text(timeout=1_000)).strip()
        except Exception:  # not drawn yet
            text = ""
        running = await page.locator('[data-testid="stStatusWidget"]').all_inner_texts()
        if text == title and not any("Running" in r or "Stop" in r for r in running):
            break
        if time.perf_counter() - t > 180:
            raise RuntimeError(f"{title}: not ready after 180 s (showing {text!r}, {running})")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t
    errors = await page.locator('[data-testid="stException"]').all_inner_texts()
    if errors:
        raise RuntimeError(f"{title}: {errors[0][:300]}")
    return elapsed


async def session(browser, base: str, rounds: int, times: list[float]) -> None:
    """One person: opens the app, then moves between the pages with the sidebar, as staff do."""
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.set_default_timeout(180_000)
    page = await ctx.new_page()
    try:
        t = time.perf_counter()
        await page.goto(base, wait_until="domcontentloaded")
        await settled(page, "Overview", t)
        for _ in range(rounds):
            for _path, title in CYCLE[1:] + CYCLE[:1]:
                link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
                t = time.perf_counter()
                await link.click()
                times.append(await settled(page, title, t))
    finally:
        await ctx.close()


async def protocol_session(base: str, rounds: int, times: list[float]) -> None:
    """One person over Streamlit's websocket protocol: a rerun of each page in turn, timed from
    the request until the server reports the script finished; a page exception fails the run."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    url = base.replace("http://", "ws://") + "/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:

        async def show(page: str, title: str) -> float:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            msg.rerun_script.page_name = page
            t = time.perf_counter()
            await ws.send(msg.SerializeToString())
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await asyncio.wait_for(ws.recv(), 300))
                kind = fm.WhichOneof("type")
                if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    if fm.delta.new_element.WhichOneof("type") == "exception":
                        raise RuntimeError(f"{title}: {fm.delta.new_element.exception.message}")
                if kind == "script_finished" and fm.script_finished in (
                    ForwardMsg.FINISHED_SUCCESSFULLY,
                    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
                ):
                    if fm.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                        raise RuntimeError(f"{title}: the script did not compile")
                    return time.perf_counter() - t

        await show("", "Overview")
        for _ in range(rounds):
            for path, title in CYCLE[1:] + CYCLE[:1]:
                times.append(await show(path, title))


async def measure(
    base: str,
    sessions: int,
    rounds: int,
    env: dict,
    with_jobs: bool = True,
    use_browser: bool = False,
) -> tuple[list, list, list]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = None
        if use_browser:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)

        def one(rounds: int, times: list[float]):
            if browser is None:
                return protocol_session(base, rounds, times)
            return session(browser, base, rounds, times)

        warm: list[float] = []
        await one(1, warm)  # caches and first-render costs
        idle: list[float] = []
        await one(rounds + 1, idle)
        loaded: list[float] = []
        cli = [
            subprocess.Popen(
                [sys.executable, "-m", "core.cli.main", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in ((["sync", "bison"], ["alerts", "check"]) if with_jobs else ())
        ]
        await asyncio.gather(*(one(rounds, loaded) for _ in range(sessions)))
        outcomes = [(c.args[3:], *c.communicate(timeout=600), c.returncode) for c in cli]
        if browser is not None:
            await browser.close()
    return idle, loaded, outcomes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-jobs", action="store_true", help="Sessions only, no sync or check.")
    ap.add_argument("--browser", action="store_true", help="Real Chromium contexts.")
    opts = ap.parse_args()
    report = Report()
    source = full_db()
    source_path = source.path
    source.close()
    work = Path(tempfile.mkdtemp(prefix="leadops-load-"))
    db_path = work / "leadops.duckdb"
    shutil.copy(source_path, db_path)
    env = {
        **os.environ,
        "LEADOPS_DB": str(db_path),
        "LEADOPS_KEYRING": "cryptfile",
        "LEADOPS_KEYRING_FILE": str(work / "secrets.cfg"),
        "LEADOPS_KEYRING_PASSWORD": "load-benchmark",
        "LEADOPS_BISON_RATE_PER_SEC": "0",
        "LEADOPS_SCHEDULER_SECONDS": "3600",
    }
    os.environ.update(env)
    fake = BisonFake(
        seed=7, workspaces=3, campaigns_per_ws=20, replies_per_ws=200, leads_per_ws=300
    )
    slot = AppSlot()
    slot.app = fake
    with serve(slot) as bison_url:
        env["LEADOPS_BISON_URL"] = bison_url
        db = store.Database(db_path)
        for i, bid in enumerate(fake.workspace_ids):
            wid = workspaces.create(
                db,
                workspaces.WorkspaceInput(name=f"Load client {i + 1}", bison_workspace_id=bid),
                actor="load",
            )
            secrets.set_secret(
                db,
                secrets.bison_token_name(wid),
                fake.token_for(bid),
                kind="bison_token",
                actor="load",
            )
        db.close()
        port = free_port()
        log = (work / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "core.cli.main", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.3)
            idle, loaded, outcomes = asyncio.run(
                measure(base, opts.sessions, opts.rounds, env, not opts.no_jobs)
            )
        finally:
            server.terminate()
            server.wait(30)
    median = statistics.median(idle)
    p95 = statistics.quantiles(loaded, n=20)[-1]
    print(f"# {len(loaded)} page loads by {opts.sessions} sessions; idle median {median:.3f} s")
    # Reported, not judged: on 2 cores twenty sessions that click without pause are bound by the
    # page scripts' own CPU; what must hold is no page error, no failed command, no write conflict.
    print(
        f"load.p95_vs_idle_median: {p95:.3f} s | floor {median:.3f} s | ratio {p95 / median:.2f}x | info"
    )
    report.info("load.p95", p95)
    report.info("load.max", max(loaded))
    for args, _out, err, code in outcomes:
        good = code == 0
        report.ok &= good
        print(f"load.cli {' '.join(args)}: exit {code} | {'ok' if good else 'FAIL ' + err[-300:]}")
    text = (work / "serve.log").read_text()
    for needle in ("Traceback", "Conflict on update"):
        if needle in text:
            report.ok = False
            print(f"load.server_log: contains {needle!r} | FAIL")
    shutil.rmtree(work, ignore_errors=True)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
