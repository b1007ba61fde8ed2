"""The verify stage: Debounce when a key is in the secret store, local checks only otherwise.

Contacts are verified in chunks: a chunk is marked `verifying`, checked, and its results written
in one transaction, so a cancelled or killed run loses at most the chunk in flight, and contacts
left `verifying` by a dead process go back to `filtered` when the stage starts again (or through
`reset_stuck`). Local checks (syntax with email-validator, disposable domains, role accounts)
never prove a mailbox exists; their results carry `verification_source = 'local'` and the page
says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from email_validator import EmailNotValidError, validate_email

from connectors.debounce import DebounceClient, Verification
from core.accounts import access
from core.pipeline.filters import ROLE_ACCOUNTS
from core.platform import audit, secrets, settings
from core.platform.store import Database

DEBOUNCE_SECRET = "debounce"  # the name it had before credentials were found by kind
DEBOUNCE_KIND = "debounce_key"
CHUNK = 200
Tick = Callable[[int, int | None, str | None], None]
ClientFactory = Callable[[str], DebounceClient]


def debounce_configured(db: Database) -> bool:
    """Whether a Debounce key is stored, under whatever name (from the database alone)."""
    return secrets.has_kind(db, DEBOUNCE_KIND, DEBOUNCE_SECRET)


def debounce_key(db: Database) -> str | None:
    """The newest stored Debounce key, whatever name it was saved under."""
    return secrets.get_by_kind(db, DEBOUNCE_KIND, DEBOUNCE_SECRET)


def _disposable() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def local_check(email: str, disposable: frozenset[str] | None = None) -> tuple[str, str]:
    """(verdict, reason) from checks that need no network: syntax, disposable, role."""
    try:
        info = validate_email(email or "", check_deliverability=False)
    except EmailNotValidError as exc:
        return "invalid", f"syntax: {exc}"
    domain = info.domain.lower()
    if domain in (disposable if disposable is not None else _disposable()):
        return "invalid", "disposable domain"
    if info.local_part.lower() in ROLE_ACCOUNTS:
        return "risky", "role account"
    return "safe", "syntax ok (local checks only, mailbox not verified)"


def reset_stuck(db: Database, user: access.User, workspace_id: int) -> int:
    """Put contacts left `verifying` by a stopped run back to `filtered`; audited."""
    access.require(user, "pipeline.run")
    with db.transaction() as cur:
        n = cur.execute(
            "UPDATE contacts SET status = 'filtered' WHERE workspace_id = ? AND status = 'verifying'",
            [workspace_id],
        ).fetchall()[0][0]
        audit.record(
            cur,
            actor=user.email,
            action="verification.reset",
            entity="workspace",
            entity_id=workspace_id,
            after={"contacts": n},
        )
    return int(n)


def _client(key: str) -> DebounceClient:
    return DebounceClient(key)


def verify_stage(
    db: Database,
    workspace_id: int,
    month: dt.date,
    *,
    run_id: int | None = None,
    tick: Tick | None = None,
    client_factory: ClientFactory | None = None,
) -> dict[str, Any]:
    tick = tick or (lambda *_: None)
    from core.pipeline import verification_bulk as bulk

    key = debounce_key(db)
    # A bulk list Debounce is still working on (the run stopped while it waited) is picked up
    # again, its contacts still `verifying`; otherwise big runs go as bulk lists.
    if key and bulk.unfinished(db, workspace_id, month):
        return bulk.verify_bulk(db, workspace_id, month, key, run_id, tick, client_factory)
    scope = "workspace_id = ? AND renewal_month = ?"
    with db.cursor() as cur:
        cur.execute(
            f"UPDATE contacts SET status = 'filtered' WHERE {scope} AND status = 'verifying'",
            [workspace_id, month],
        )
        total = cur.execute(
            f"SELECT count(*) FROM contacts WHERE {scope} AND status = 'filtered'",
            [workspace_id, month],
        ).fetchall()[0][0]
    if key and bulk.wanted(db, total):
        return bulk.verify_bulk(db, workspace_id, month, key, run_id, tick, client_factory)
    mode = "debounce" if key else "local"
    per_1000 = settings.get(db, "debounce_cost_per_1000_cents")
    with db.cursor() as cur:
        vrun = cur.execute(
            "INSERT INTO verification_runs (workspace_id, pipeline_run_id, mode) VALUES (?, ?, ?)"
            " RETURNING id",
            [workspace_id, run_id, mode],
        ).fetchall()[0][0]
    disposable = _disposable()
    client = (client_factory or _client)(key) if key else None
    counts = {"safe": 0, "risky": 0, "invalid": 0, "unknown": 0}
    credits, balance, done = 0, None, 0
    tick(0, total, f"{mode} verification")
    try:
        while True:
            with db.cursor() as cur:
                chunk = cur.execute(
                    f"SELECT id, email FROM contacts WHERE {scope} AND status = 'filtered'"
                    f" ORDER BY id LIMIT {CHUNK}",
                    [workspace_id, month],
                ).fetchall()
                if not chunk:
                    break
                cur.execute(
                    f"UPDATE contacts SET status = 'verifying' WHERE id IN ({', '.join(str(int(i)) for i, _ in chunk)})"
                )
            ids, verdicts, codes, reasons = [], [], [], []
            remote: list[tuple[int, str]] = []
            for cid, email in chunk:
                verdict, reason = local_check(email, disposable)
                if verdict == "invalid" or client is None:
                    ids.append(cid)
                    verdicts.append(verdict)
                    codes.append(None)
                    reasons.append(reason)
                else:
                    remote.append((cid, email))
            if remote and client is not None:
                results: list[Verification] = client.verify_many([e for _, e in remote])
                for (cid, _), v in zip(remote, results, strict=True):
                    ids.append(cid)
                    verdicts.append(v.verdict)
                    codes.append(v.code)
                    reasons.append(v.reason)
                    if (
                        v.balance is not None
                    ):  # answers arrive out of order: the lowest is the latest
                        balance = v.balance if balance is None else min(balance, v.balance)
                credits += len(remote)
            for v in verdicts:
                counts[v] += 1
            _write(db, ids, verdicts, codes, reasons, mode)
            done += len(chunk)
            with db.cursor() as cur:
                cur.execute(
                    "UPDATE verification_runs SET checked = ?, safe = ?, risky = ?, invalid = ?,"
                    " unknown = ?, credits = ?, cost_cents = ?, balance = ? WHERE id = ?",
                    [
                        done,
                        counts["safe"],
                        counts["risky"],
                        counts["invalid"],
                        counts["unknown"],
                        credits,
                        round(credits * per_1000 / 1000),
                        balance,
                        vrun,
                    ],
                )
            tick(done, total, f"{mode} verification")
    finally:
        with db.cursor() as cur:
            cur.execute("UPDATE verification_runs SET finished_at = now() WHERE id = ?", [vrun])
        if client is not None:
            client.close()
        if balance is not None:
            bulk.record_balance(db, balance)
    return {
        "input": done,
        "output": counts["safe"],
        "mode": mode,
        "results": counts,
        "credits": credits,
        "cost_cents": round(credits * per_1000 / 1000),
    }


def _write(db: Database, ids, verdicts, codes, reasons, mode: str) -> None:
    frame = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "verdict": verdicts,
            "code": pa.array(codes, pa.string()),
            "reason": reasons,
        }
    )
    with db.transaction() as cur:
        cur.register("_verified", frame)
        cur.execute(
            """
            UPDATE contacts SET
                status = CASE WHEN v.verdict = 'safe' THEN 'verified' ELSE 'invalid' END,
                verification_result = v.verdict, verification_code = v.code,
                verification_source = CASE WHEN v.code IS NULL THEN 'local' ELSE $mode END,
                reject_reason = CASE WHEN v.verdict = 'safe' THEN NULL
                                     ELSE 'email ' || v.verdict || ': ' || v.reason END,
                updated_at = now()
            FROM _verified v WHERE contacts.id = v.id AND contacts.status = 'verifying'
            """,
            {"mode": mode},
        )
        cur.execute(  # each contact's history: the verification result, and when
            "INSERT INTO contact_events (contact_id, workspace_id, kind, rule, reason)"
            " SELECT c.id, c.workspace_id, 'verify', $mode, v.verdict"
            " || CASE WHEN v.verdict = 'safe' THEN '' ELSE ': ' || coalesce(v.reason, '') END"
            " || coalesce(' (code ' || v.code || ')', '')"
            " FROM _verified v JOIN contacts c ON c.id = v.id",
            {"mode": mode},
        )
        cur.unregister("_verified")


def runs(db: Database, scope: Any, limit: int = 50) -> Any:
    return db.query(
        f"""SELECT v.id, w.name AS client, v.mode, v.checked, v.safe, v.risky, v.invalid,
                   v.unknown, v.credits, v.cost_cents, v.balance, v.started_at, v.finished_at
            FROM verification_runs v JOIN workspaces w ON w.id = v.workspace_id
            WHERE {scope.filter("v.workspace_id")} ORDER BY v.id DESC LIMIT ?""",
        [limit],
    )
