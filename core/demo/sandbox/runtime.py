"""The demo sandbox under `leadops serve`: a simulated Email Bison on the loopback, loaded from the
demo database, so every button that talks to Email Bison works on the demo.

It starts only when the database holds the demo (the demo loader's `demo.load` record is there)
and no Email Bison address is configured (Settings → Connections or `LEADOPS_BISON_URL`); with
one, LeadOps talks to that instance and the sandbox never runs. Started, it

* serves the simulation on 127.0.0.1 (a free port) from a daemon thread;
* gives every client a sandbox workspace of its Email Bison workspace id (a client added without
  one is given a new one), filled from the mirror on first use (core/demo/sandbox/seed.py; a
  client the mirror has nothing for starts with one campaign);
* gives a client without a token one, minted through the sandbox's super-admin token endpoint
  (as `leadops bison tokens --generate` does against a real instance) and kept in the secret
  store. Tokens derive from a key kept beside the database (`<db>.inbox/bison_sandbox.key`), so
  a stored token opens its workspace again after a restart without reading the store; a token
  staff stored themselves (its last 4 tell) is read and accepted too;
* starts each client's reply and lead cursors where the demo's data ends (when it has none), so
  the first sync reads only what changed;
* points this process at it (`LEADOPS_BISON_URL`, and `LEADOPS_BISON_SUPER_TOKEN` for token
  minting) and records that in core/platform/bison_sandbox.py, whose label every page shows.

Every few seconds it looks again: a client added since gets its workspace and token, a reloaded
demo a fresh sandbox, and an Email Bison address configured in the meantime stops it, so the
next request goes to the real instance.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets as pysecrets
import threading
import time
from collections.abc import Callable

from connectors.bison import BisonClient
from core.accounts import workspaces
from core.demo.sandbox import seed
from core.demo.sandbox.data import FakeWorkspace
from core.demo.sandbox.server import BisonFake
from core.demo.sandbox.serving import AppSlot, Served
from core.platform import bison_sandbox, connections, inbox, secrets
from core.platform.store import Database
from core.platform.sync_store import set_cursors

log = logging.getLogger("leadops.sandbox")
ACTOR = "demo-sandbox"
POLL_SECONDS = 3.0
KEY_FILE = "bison_sandbox.key"  # in the database's inbox folder

_lock = threading.Lock()
_running: Sandbox | None = None
_serving = False  # this process is a server that runs the sandbox for a demo database


def demo_loaded(db: Database) -> int | None:
    """The demo's load record (its audit entry), or None when the database does not hold the demo."""
    return db.scalar("SELECT max(id) FROM audit_log WHERE action = 'demo.load'")


def why_not(db: Database) -> str | None:
    """Why the sandbox must not run for this database (None: it may)."""
    if bison_sandbox.configured_url(db):
        return "an Email Bison address is configured"
    if demo_loaded(db) is None:
        return "the database does not hold the demo"
    return None


class Sandbox:
    def __init__(self, db: Database, notify: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.notify = notify or (lambda message: None)
        self.slot = AppSlot()
        self.fake: BisonFake | None = None
        self.loaded_from: int | None = None  # the demo.load record the state was loaded from
        self.problems: dict[int, str] = {}  # client id -> why it has no sandbox token
        self._refresh_lock = threading.Lock()
        self._key: bytes | None = None
        self._stop = threading.Event()
        self._served = Served(self.slot)
        self.url = self._served.url
        self._thread = threading.Thread(target=self._run, name="leadops-demo-sandbox", daemon=True)

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.refresh()
        except BaseException:
            self._served.stop()
            raise
        self._thread.start()
        self._test_connection()

    def _test_connection(self) -> None:
        """Settings → Connections' Test, run once against the sandbox, so the setup checklist's
        "Email Bison reachable" shows what is true: it answers, and takes the super-admin token."""
        fake = self.fake
        assert fake is not None
        try:
            with BisonClient(self.url, fake.super_admin_token, rate_per_sec=None) as admin:
                admin.check()
            ok, message = True, "The demo sandbox answered and took the super-admin token."
        except Exception as exc:  # recorded as failed; the checklist shows why
            ok, message = False, f"The demo sandbox did not answer: {type(exc).__name__}"
        connections.record_test(self.db, "bison", ok, message, target=self.url, actor=ACTOR)

    def alive(self) -> bool:
        return not self._stop.is_set() and self._served.alive()

    def stop(self) -> None:
        self._stop.set()
        with self._refresh_lock:  # a refresh under way finishes first, then is undone
            bison_sandbox.deactivate()
        self._served.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.check()
            except Exception:  # the next round tries again
                log.exception("demo sandbox: refresh failed")

    def check(self) -> None:
        """Stop when an Email Bison address was configured (or the demo is gone), else refresh."""
        reason = why_not(self.db)
        if reason:
            log.info("demo sandbox stopped: %s", reason)
            self.stop()
            return
        self.refresh()

    # -- keeping in step with the database --------------------------------------------------------

    def refresh(self) -> None:
        """A fresh sandbox after the demo was (re)loaded; a workspace and a token for every client;
        this process pointed at it."""
        with self._refresh_lock:
            if self._stop.is_set():
                return
            marker = demo_loaded(self.db)
            if self.fake is None or marker != self.loaded_from:
                self._rebuild(marker)
            fake = self.fake
            assert fake is not None
            fake.state.now = time.time()  # the simulation's clock follows the wall clock
            fake.state.today = dt.datetime.now(dt.UTC).date()
            added = self._add_workspaces(fake)
            self._seed_cursors(added)
            self._tokens(fake)
            bison_sandbox.activate(
                self.url,
                {
                    "LEADOPS_BISON_URL": self.url,
                    "LEADOPS_BISON_SUPER_TOKEN": fake.super_admin_token,
                },
            )

    def _rebuild(self, marker: int | None) -> None:
        fake = BisonFake(seed=pysecrets.randbits(48), workspaces=0)
        fake.state.token_factory = self.token_for
        fake.keep_requests = False  # a long-running server keeps no request log
        fake.skip_personal_domains = False  # the demo's contacts use gmail.com and the like
        fake.state.shared_ids.update(seed.next_ids(self.db))
        self.fake, self.loaded_from = fake, marker
        self.slot.app = fake
        self.problems.clear()

    def _clients(self) -> list[tuple[int, str, int, dt.datetime | None]]:
        return self.db.rows(
            "SELECT id, name, bison_workspace_id, created_at FROM workspaces"
            " WHERE bison_workspace_id IS NOT NULL ORDER BY id"
        )

    def _assign_ids(self, fake: BisonFake) -> None:
        """A client added without an Email Bison workspace id gets a new sandbox workspace's id,
        as staff would after creating its workspace in Email Bison."""
        missing = self.db.rows(
            "SELECT id FROM workspaces WHERE active AND bison_workspace_id IS NULL ORDER BY id"
        )
        taken = int(self.db.scalar("SELECT max(bison_workspace_id) FROM workspaces") or 0)
        for (wid,) in missing:
            taken = max(taken, *fake.state.workspaces, 0) + 1
            workspaces.update(self.db, wid, {"bison_workspace_id": taken}, actor=ACTOR)

    def _add_workspaces(self, fake: BisonFake) -> list[int]:
        """A sandbox workspace for every client that has none yet; returns their client ids."""
        self._assign_ids(fake)
        added = []
        with fake.lock:
            for wid, name, bison_id, created in self._clients():
                if bison_id in fake.state.workspaces:
                    continue
                fake.state.add_workspace(
                    int(bison_id),
                    name,
                    functools.partial(self._load, wid),
                    created=created.timestamp() if created else None,
                )
                fake.state.register_token(self.token_for(int(bison_id)), int(bison_id))
                added.append(wid)
        return added

    def _load(self, wid: int, ws: FakeWorkspace) -> None:
        seed.load_workspace(self.db, wid, ws, time.time())

    def _seed_cursors(self, client_ids: list[int]) -> None:
        """Where a client's replies and leads end in the demo is where its first sync starts."""
        if not client_ids:
            return
        ids = ", ".join(str(int(i)) for i in client_ids)
        have = {
            (wid, resource)
            for wid, resource in self.db.rows(
                f"SELECT workspace_id, resource FROM sync_cursors WHERE source = 'bison'"
                f" AND workspace_id IN ({ids})"
            )
        }
        tops = dict(
            self.db.rows(
                f"SELECT workspace_id, max(id) FROM bison_replies WHERE workspace_id IN ({ids})"
                " GROUP BY ALL"
            )
        )
        with_leads = {
            r[0]
            for r in self.db.rows(
                f"SELECT DISTINCT workspace_id FROM bison_leads WHERE workspace_id IN ({ids})"
            )
        }
        today = dt.datetime.now(dt.UTC).date().isoformat()
        with self.db.transaction() as cur:
            for wid in client_ids:
                values = {}
                if wid in tops and (wid, "replies") not in have:
                    values["replies"] = str(tops[wid])
                if wid in with_leads and (wid, "leads") not in have:
                    values["leads"] = today
                set_cursors(cur, wid, values)

    def token_for(self, bison_id: int) -> str:
        """The api-user token of a sandbox workspace: derived from the sandbox's key (kept beside
        the database, readable by its owner only), so the token a client keeps in the secret
        store opens its workspace again after a restart, without reading the store."""
        if self._key is None:
            path = inbox.inbox_dir(self.db.path) / KEY_FILE
            if not path.exists():
                inbox.write_private(path, pysecrets.token_urlsafe(32).encode())
            self._key = path.read_bytes().strip()
        digest = hmac.new(self._key, f"workspace:{bison_id}".encode(), hashlib.sha256)
        return f"{bison_id}|{digest.hexdigest()[:40]}"

    def _tokens(self, fake: BisonFake) -> None:
        """A client without a token gets one, minted through the sandbox's super-admin endpoint
        and kept in the secret store. A stored token that is not the sandbox's own (its last 4
        differ: staff pasted another) is read from the store and accepted too."""
        refs = dict(
            self.db.rows("SELECT name, last4 FROM secret_refs WHERE name LIKE 'bison.workspace.%'")
        )
        clients = [
            (wid, name, int(bison_id), secrets.bison_token_name(wid))
            for wid, name, bison_id, _ in self._clients()
        ]
        todo = [c for c in clients if refs.get(c[3]) != self.token_for(c[2])[-4:]]
        missing = sum(1 for c in todo if c[3] not in refs)
        if missing > 1:
            self.notify(f"Demo sandbox: storing Email Bison tokens for {missing} clients…")
        for wid, name, bison_id, secret in todo:
            try:
                token = secrets.get_secret(secret) if secret in refs else None
                if token:
                    with fake.lock:
                        fake.state.register_token(token, int(bison_id))
                else:
                    with BisonClient(self.url, fake.super_admin_token, rate_per_sec=None) as admin:
                        token = admin.create_workspace_token(bison_id, name="leadops").token
                    secrets.set_secret(self.db, secret, token, kind="bison_token", actor=ACTOR)
                self.problems.pop(wid, None)
            except Exception as exc:  # e.g. no secret store: the pages say why
                if self.problems.get(wid) != str(exc):
                    log.warning("demo sandbox: no token for %s: %s", name, exc)
                self.problems[wid] = str(exc)
        bison_sandbox.set_note(
            f"{len(self.problems)} client(s) have no sandbox token: "
            f"{next(iter(self.problems.values()))}"
            if self.problems
            else None
        )


# -- the process's sandbox ------------------------------------------------------------------------


def start_if_wanted(db: Database, notify: Callable[[str], None] | None = None) -> Sandbox | None:
    """Start the sandbox for `db` when it holds the demo and no Email Bison address is
    configured (once per process); returns it, or None when it does not run. `notify` hears
    about slow steps (storing many tokens)."""
    global _running, _serving
    with _lock:
        _serving = True
        if _running is not None and _running.alive():
            return _running
        reason = why_not(db)
        if reason:
            log.info("demo sandbox not started: %s", reason)
            return None
        sandbox = Sandbox(db, notify)
        sandbox.start()
        _running = sandbox
        return sandbox


def after_demo_load(db: Database) -> Sandbox | None:
    """The demo was just loaded: in a server that runs the sandbox, start it, or load the new
    demo into the running one now rather than at its next look."""
    if not _serving:
        return None
    running = current()
    if running is not None:
        running.refresh()
        return running
    return start_if_wanted(db)


def current() -> Sandbox | None:
    return _running if _running is not None and _running.alive() else None


def stop() -> None:
    global _running, _serving
    with _lock:
        _serving = False
        if _running is not None:
            _running.stop()
            _running = None
