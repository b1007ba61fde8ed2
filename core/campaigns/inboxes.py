"""Acting on sending accounts through Email Bison: pause, resume, daily limit, warm-up.

Email Bison has no pause for a single inbox. A pause sets the account's daily limit to 0 there
and keeps the limit it had in `sender_pauses`; Resume puts that limit back. A new daily limit for
a paused account changes the limit it will resume with and leaves it paused. Every action takes a
selection (one or many accounts, of one or several clients), calls Email Bison once per client
and change, then updates the mirror (through core/bison/mirror.py) and the audit log, one entry per
account. An account the action does not apply to (already paused, not paused) is skipped and said.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from connectors.bison import BisonClient
from connectors.http import ApiError
from core.accounts import access
from core.bison import mirror
from core.platform import audit, connections
from core.platform.store import Database

ACTIONS = ("pause", "resume", "limit", "warmup_on", "warmup_off")
LABELS = {
    "pause": "Pause",
    "resume": "Resume",
    "limit": "Set daily limit",
    "warmup_on": "Turn warm-up on",
    "warmup_off": "Turn warm-up off",
}
MAX_DAILY_LIMIT = 10_000


class InboxActionError(ValueError):
    """Bad input or a refusal; the message says which account and why, in plain words."""


@dataclass
class InboxResult:
    action: str
    changed: list[str] = field(default_factory=list)  # account emails
    skipped: list[str] = field(default_factory=list)  # "email: why"
    failed: list[str] = field(default_factory=list)  # "client: Email Bison's answer"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "changed": self.changed,
            "skipped": self.skipped,
            "failed": self.failed,
        }

    def summary(self) -> str:
        words = {
            "pause": "paused",
            "resume": "resumed",
            "limit": "given the new daily limit",
            "warmup_on": "warm-up turned on",
            "warmup_off": "warm-up turned off",
        }[self.action]
        parts = [f"{len(self.changed)} account(s) {words}"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({'; '.join(self.skipped[:3])})")
        if self.failed:
            parts.append(f"failed: {'; '.join(self.failed)}")
        return ", ".join(parts) + "."


def paused_accounts(db: Database, workspace_id: int | None = None) -> pl.DataFrame:
    """The accounts paused from LeadOps, with the limit each resumes with."""
    where = "" if workspace_id is None else " WHERE p.workspace_id = ?"
    return db.query(
        "SELECT p.workspace_id, p.sender_email_id, s.email, p.previous_daily_limit, p.paused_at,"
        " p.paused_by, p.reason FROM sender_pauses p LEFT JOIN bison_sender_emails s"
        " ON s.workspace_id = p.workspace_id AND s.id = p.sender_email_id"
        + where
        + " ORDER BY p.paused_at",
        [] if workspace_id is None else [workspace_id],
    )


def resolve_accounts(db: Database, user: access.User, refs: Iterable[str]) -> list[tuple[int, int]]:
    """(workspace id, account id) for each reference: an account email or its Email Bison id,
    among the accounts the user may see. Unknown or ambiguous references are refused by name."""
    out: list[tuple[int, int]] = []
    for ref in refs:
        ref = str(ref).strip()
        if not ref:
            continue
        col, value = ("id", int(ref)) if ref.isdigit() else ("lower(email)", ref.lower())
        rows = db.rows(
            f"SELECT workspace_id, id FROM bison_sender_emails WHERE {col} = ?"
            f" AND {user.scope.filter()} ORDER BY workspace_id",
            [value],
        )
        if not rows:
            raise InboxActionError(f"No sending account {ref!r} (an email or an Email Bison id).")
        if len(rows) > 1:
            raise InboxActionError(
                f"{ref!r} names {len(rows)} sending accounts of different clients; use its id."
            )
        out.append((int(rows[0][0]), int(rows[0][1])))
    return out


def _limit(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InboxActionError(f"The daily limit must be a whole number, not {value!r}.") from None
    if isinstance(value, float) and value != n:
        raise InboxActionError(f"The daily limit must be a whole number, not {value!r}.")
    if not 1 <= n <= MAX_DAILY_LIMIT:
        raise InboxActionError(
            f"The daily limit must be between 1 and {MAX_DAILY_LIMIT:,} (to stop an inbox"
            " sending, pause it)."
        )
    return n


def inbox_action(
    db: Database,
    user: access.User,
    accounts: Iterable[tuple[int, int]],
    action: str,
    *,
    daily_limit: int | None = None,
    reason: str | None = None,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> InboxResult:
    """Apply one action to a selection of sending accounts ((workspace id, account id) pairs)."""
    access.require(user, "campaign.act")
    if action not in ACTIONS:
        raise InboxActionError(f"Unknown action {action!r}; one of {', '.join(ACTIONS)}.")
    limit = _limit(daily_limit) if action == "limit" else None
    reason = (reason or "").strip()
    if action == "pause" and not reason:
        raise InboxActionError("Say why the account is paused (kept in the audit log).")
    selected = sorted({(int(w), int(s)) for w, s in accounts})
    if not selected:
        raise InboxActionError("Select at least one sending account.")
    by_ws: dict[int, list[int]] = defaultdict(list)
    for wid, sid in selected:
        if not user.scope.allows(wid):
            raise InboxActionError("A selected account belongs to a client you cannot act for.")
        by_ws[wid].append(sid)
    result = InboxResult(action)
    for wid, sids in by_ws.items():
        _act_for_client(db, user, wid, sids, action, limit, reason, client_factory, result)
    return result


def _rows(db: Database, wid: int, sids: list[int]) -> dict[int, dict[str, Any]]:
    df = db.query(
        "SELECT s.id, s.email, s.daily_limit, s.warmup_enabled, w.name AS client,"
        " p.previous_daily_limit AS paused_limit"
        " FROM bison_sender_emails s JOIN workspaces w ON w.id = s.workspace_id"
        # A pause whose limit was raised in Email Bison since no longer holds the account.
        " LEFT JOIN sender_pauses p ON p.workspace_id = s.workspace_id AND p.sender_email_id = s.id"
        " AND coalesce(s.daily_limit, 0) = 0"
        " WHERE s.workspace_id = ? AND list_contains(?, s.id)",
        [wid, sids],
    )
    return {r["id"]: r for r in df.iter_rows(named=True)}


def _act_for_client(
    db: Database,
    user: access.User,
    wid: int,
    sids: list[int],
    action: str,
    limit: int | None,
    reason: str,
    factory: Callable[[str], BisonClient] | None,
    result: InboxResult,
) -> None:
    rows = _rows(db, wid, sids)
    missing = [s for s in sids if s not in rows]
    if missing:
        raise InboxActionError(f"No sending account {missing[0]} for this client.")
    client_name = next(iter(rows.values()))["client"]
    todo: list[dict[str, Any]] = []
    for sid in sids:
        r = rows[sid]
        paused = r["paused_limit"] is not None
        why = None
        if action == "pause" and paused:
            why = "already paused"
        elif action == "resume" and not paused:
            why = "not paused"
        elif action == "warmup_on" and r["warmup_enabled"] is True:
            why = "warm-up already on"
        elif action == "warmup_off" and r["warmup_enabled"] is False:
            why = "warm-up already off"
        if why:
            result.skipped.append(f"{r['email']}: {why}")
        else:
            todo.append(r)
    if not todo:
        return
    # Paused accounts given a new limit keep it for their resume; nothing changes in Email Bison.
    held = [r for r in todo if action == "limit" and r["paused_limit"] is not None]
    live = [r for r in todo if r not in held]
    # One Email Bison call per distinct target limit (a resume puts back each account's own).
    calls: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in live:
        key = {
            "pause": 0,
            "resume": r["paused_limit"],
            "limit": limit,
            "warmup_on": True,
            "warmup_off": False,
        }[action]
        calls[key].append(r)
    done: list[tuple[dict[str, Any], Any]] = [(r, limit) for r in held]
    if calls:
        try:
            client = connections.bison_client(db, wid, factory)
        except connections.NotConfigured as exc:
            result.failed.append(f"{client_name}: {exc}")
            calls = {}
        else:
            try:
                for value, group in calls.items():
                    ids = [r["id"] for r in group]
                    try:
                        if action in ("warmup_on", "warmup_off"):
                            answer = client.set_sender_warmup(ids, bool(value))
                        else:
                            answer = client.set_sender_daily_limits(ids, int(value))
                    except ApiError as exc:
                        result.failed.append(f"{client_name}: Email Bison refused: {exc}")
                        continue
                    if not answer.success:
                        result.failed.append(
                            f"{client_name}: Email Bison refused: {answer.message}"
                        )
                        continue
                    done.extend((r, value) for r in group)
            finally:
                client.close()
    if done:
        _record(db, user, wid, action, reason, done)
        result.changed.extend(r["email"] for r, _ in done)


def _record(
    db: Database,
    user: access.User,
    wid: int,
    action: str,
    reason: str,
    done: list[tuple[dict[str, Any], Any]],
) -> None:
    with db.transaction() as cur:
        for r, value in done:
            sid = r["id"]
            before = {
                "email": r["email"],
                "daily_limit": r["daily_limit"],
                "warmup_enabled": r["warmup_enabled"],
                "paused": r["paused_limit"] is not None,
            }
            after = dict(before)
            if action == "pause":
                cur.execute(
                    "INSERT OR REPLACE INTO sender_pauses (workspace_id, sender_email_id, previous_daily_limit,"
                    " paused_by, reason) VALUES (?, ?, ?, ?, ?)",
                    [wid, sid, int(r["daily_limit"] or 0), user.email, reason],
                )
                mirror.set_sender_settings(cur, wid, [sid], daily_limit=0)
                after |= {"daily_limit": 0, "paused": True, "reason": reason}
            elif action == "resume":
                cur.execute(
                    "DELETE FROM sender_pauses WHERE workspace_id = ? AND sender_email_id = ?",
                    [wid, sid],
                )
                mirror.set_sender_settings(cur, wid, [sid], daily_limit=int(value))
                after |= {"daily_limit": int(value), "paused": False}
            elif action == "limit" and r["paused_limit"] is not None:
                cur.execute(
                    "UPDATE sender_pauses SET previous_daily_limit = ?"
                    " WHERE workspace_id = ? AND sender_email_id = ?",
                    [int(value), wid, sid],
                )
                after |= {"resumes_with_daily_limit": int(value)}
            elif action == "limit":
                mirror.set_sender_settings(cur, wid, [sid], daily_limit=int(value))
                after |= {"daily_limit": int(value)}
            else:
                mirror.set_sender_settings(cur, wid, [sid], warmup_enabled=bool(value))
                after |= {"warmup_enabled": bool(value)}
            audit.record(
                cur,
                actor=user.email,
                action=f"sender.{action}",
                entity="sender_email",
                entity_id=f"{wid}:{sid}",
                before=before,
                after=after,
            )
