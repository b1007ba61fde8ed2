"""CRM delivery: each client's CRM (HubSpot, GoHighLevel or a signed webhook) receives every newly
interested lead, exactly once.

* Configuration per client (`crm_configs`, the token and signing secret in the secret store, the
  connection test) is `core/replies/crm_config.py`.
* `enqueue` gives every lead of a configured client a row in `crm_deliveries` keyed by a delivery
  key (sha256 of client id and normalised email, the primary key), so a lead is queued once however
  often syncs run. A lead is queued when it became a lead after the CRM was configured, or when
  its first interested reply is at most `crm_backfill_days` older than the configuration.
* `deliver_pending` sends what is due, only to public addresses (connectors/http checks every
  request after DNS; a refused destination fails the delivery at once). The connectors upsert contacts by email and the ids of what
  was created (note, deal) are kept on the row, so a retry repeats nothing. Every HTTP attempt is
  logged in `crm_attempts` (time, status, duration, a redacted excerpt of at most 200 characters of
  the response, which `crm_views` shows to admins only). A retryable failure
  (no response, 423, 429, 5xx) waits 1, 2, 4 … minutes (at most 6 hours) and gives up after
  MAX_ATTEMPTS; others (401, 400 …) fail at once. "Retry failed" queues failed rows again.
* `after_sync` runs after every Email Bison sync: classify new replies, create new leads, queue
  and deliver, and read HubSpot deal stages back into lead stages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.crm import HUBSPOT_STAGE_MAP, Attempt, DeliveryState, LeadRecord
from connectors.http import ApiError, BlockedDestination, redact
from core.accounts import access
from core.platform import audit, settings
from core.platform.store import Database, fetch_one
from core.replies import client_leads
from core.replies.crm_config import CrmConfigError, config, connector_for, write_attempts

MAX_ATTEMPTS = 6
RETRYABLE = {None, 408, 423, 429, 500, 502, 503, 504, 521}
_deliver_lock = threading.Lock()


def delivery_key(workspace_id: int, email: str) -> str:
    raw = f"{int(workspace_id)}:{client_leads.normalise_email(email)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(360, 2 ** max(0, attempts - 1)))


# -- queue and delivery ------------------------------------------------------------------------


def _ws_filter(workspace_ids: list[int] | None, column: str) -> str:
    if workspace_ids is None:
        return "true"
    return f"{column} IN ({', '.join(str(int(i)) for i in workspace_ids) or 'NULL'})"


def enqueue(db: Database, workspace_ids: list[int] | None = None) -> int:
    """Queue every lead of a client with an enabled CRM that has no delivery yet."""
    days = int(settings.get(db, "crm_backfill_days"))
    leads = db.rows(
        f"""
        SELECT l.workspace_id, l.email, c.crm_type FROM client_leads l
        JOIN crm_configs c ON c.workspace_id = l.workspace_id AND c.enabled
        LEFT JOIN crm_deliveries d ON d.workspace_id = l.workspace_id AND d.email = l.email
        WHERE d.delivery_key IS NULL AND {_ws_filter(workspace_ids, "l.workspace_id")}
          AND (l.first_interested_at >= c.created_at - to_days(CAST(? AS INTEGER))
               OR l.created_at >= c.created_at)
        """,
        [days],
    )
    if not leads:
        return 0
    with db.transaction() as cur:
        for wid, email, crm_type in leads:
            cur.execute(
                "INSERT INTO crm_deliveries (delivery_key, workspace_id, email, crm_type) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (delivery_key) DO NOTHING",
                [delivery_key(wid, email), wid, email, crm_type],
            )
    return len(leads)


def _lead_records(db: Database, workspace_id: int, emails: list[str]) -> dict[str, dict[str, Any]]:
    """What the CRM receives for each lead: names, client, and the latest interested reply."""
    df = db.query(
        """
        WITH want AS (SELECT unnest($emails) AS email),
        lead_ids AS (
            SELECT lower(trim(bl.email)) AS email, bl.id FROM bison_leads bl
            WHERE bl.workspace_id = $w AND lower(trim(bl.email)) IN (SELECT email FROM want)
        ),
        rep AS (
            SELECT lower(trim(coalesce(li.email, r.from_email))) AS email, r.subject, r.text_body,
                   r.date_received, r.campaign_id
            FROM bison_replies r LEFT JOIN lead_ids li ON li.id = r.lead_id
            WHERE r.workspace_id = $w AND r.interested
              AND (r.lead_id IN (SELECT id FROM lead_ids) OR lower(trim(r.from_email)) IN (SELECT email FROM want))
        ),
        latest AS (SELECT * FROM rep QUALIFY row_number() OVER (PARTITION BY email ORDER BY date_received DESC) = 1)
        SELECT l.email, l.first_name, l.last_name, w.name AS client, bc.name AS campaign,
               latest.subject, latest.text_body, latest.date_received
        FROM client_leads l JOIN workspaces w ON w.id = l.workspace_id
        LEFT JOIN latest ON latest.email = l.email
        LEFT JOIN bison_campaigns bc ON bc.workspace_id = l.workspace_id AND bc.id = latest.campaign_id
        WHERE l.workspace_id = $w AND l.email IN (SELECT email FROM want)
        """,
        {"w": workspace_id, "emails": emails},
    )
    return {r["email"]: r for r in df.iter_rows(named=True)}


def _lead_record(row: dict[str, Any], key: str) -> LeadRecord:
    return LeadRecord(
        delivery_key=key,
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        client=row["client"],
        campaign=row["campaign"],
        reply_subject=row["subject"],
        reply_text=row["text_body"],
        replied_at=row["date_received"],
    )


def deliver_pending(
    db: Database,
    workspace_ids: list[int] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Send every due delivery; returns counts (delivered, retrying, failed)."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    with _deliver_lock:
        now = now or dt.datetime.now(dt.UTC)
        due = db.rows(
            f"""SELECT d.delivery_key, d.workspace_id, d.email, d.attempts, d.crm_contact_id, d.crm_note_id,
                       d.crm_deal_id, d.crm_deal_stage
                FROM crm_deliveries d JOIN crm_configs c ON c.workspace_id = d.workspace_id AND c.enabled
                WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND {_ws_filter(workspace_ids, "d.workspace_id")}
                ORDER BY d.workspace_id, d.created_at""",
            [now],
        )
        by_ws: dict[int, list[tuple]] = {}
        for row in due:
            by_ws.setdefault(int(row[1]), []).append(row)
        for wid, rows in by_ws.items():
            conf = config(db, wid)
            attempts: list[Attempt] = []
            try:
                client = connector_for(conf, attempts.append, transport=transport, sleep=sleep)
            except (CrmConfigError, ValueError) as exc:
                for row in rows:
                    _finish(db, row, DeliveryState(), [], error=str(exc), status=None, now=now)
                    counts["failed"] += 1
                continue
            records = _lead_records(db, wid, [r[2] for r in rows])
            try:
                for row in rows:
                    key, _, email, n = row[0], row[1], row[2], row[3]
                    state = DeliveryState(row[4], row[5], row[6], row[7])
                    attempts.clear()
                    try:
                        client.deliver(
                            _lead_record(records[email], key),
                            state,
                            create_deal=conf["create_deal"],
                            pipeline=conf["deal_pipeline"],
                            stage=conf["deal_stage"],
                        )
                        outcome = _finish(db, row, state, attempts, now=now)
                    except ApiError as exc:
                        outcome = _finish(
                            db,
                            row,
                            state,
                            attempts,
                            error=str(exc),
                            # a refused destination stays refused: fail now, never retry
                            status=-1 if isinstance(exc, BlockedDestination) else exc.status,
                            now=now,
                            n=n,
                        )
                    counts[outcome] += 1
            finally:
                client.close()
    return counts


def _finish(
    db: Database,
    row: tuple,
    state: DeliveryState,
    attempts: list[Attempt],
    *,
    error: str | None = None,
    status: int | None = -1,
    now: dt.datetime,
    n: int = 0,
) -> str:
    key, wid = row[0], row[1]
    if error is None:
        outcome, new_status, next_at = "delivered", "delivered", now
    elif status in RETRYABLE and n + 1 < MAX_ATTEMPTS:
        outcome, new_status, next_at = "retrying", "pending", now + backoff(n + 1)
    else:
        outcome, new_status, next_at = "failed", "failed", now
    with db.transaction() as cur:
        write_attempts(cur, wid, key, attempts)
        cur.execute(
            """UPDATE crm_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                   crm_contact_id = ?, crm_note_id = ?, crm_deal_id = ?, crm_deal_stage = ?,
                   delivered_at = CASE WHEN ? = 'delivered' THEN now() ELSE delivered_at END
               WHERE delivery_key = ?""",
            [
                new_status,
                next_at,
                redact(error)[:500] if error else None,
                state.contact_id,
                state.note_id,
                state.deal_id,
                state.deal_stage,
                new_status,
                key,
            ],
        )
    return outcome


def due_count(db: Database) -> int:
    """Deliveries waiting for a (re)try whose time has come (the app's scheduler polls this)."""
    return int(
        db.scalar(
            "SELECT count(*) FROM crm_deliveries d JOIN crm_configs c ON c.workspace_id = d.workspace_id"
            " AND c.enabled WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
        )
    )


def retry_failed(db: Database, user: access.User, workspace_id: int | None = None) -> int:
    access.require(user, "crm.deliver")
    where = "status = 'failed'" + (
        f" AND workspace_id = {int(workspace_id)}" if workspace_id is not None else ""
    )
    if (
        not user.scope.allows(workspace_id)
        if workspace_id is not None
        else user.scope.workspace_ids is not None
    ):
        raise access.PermissionDenied("You cannot retry deliveries of other clients.")
    with db.transaction() as cur:
        n = fetch_one(cur, f"SELECT count(*) FROM crm_deliveries WHERE {where}")[0]
        cur.execute(
            f"UPDATE crm_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE {where}"
        )
        audit.record(
            cur,
            actor=user.email,
            action="crm.retry_failed",
            entity="crm_config",
            entity_id=workspace_id,
            after={"queued": n},
        )
    return int(n)


def sync_deal_stages(
    db: Database,
    workspace_ids: list[int] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Read HubSpot deal stages back; a changed stage moves the lead (audited as 'hubspot')."""
    changed = 0
    confs = db.query(
        f"SELECT * FROM crm_configs WHERE enabled AND crm_type = 'hubspot' AND {_ws_filter(workspace_ids, 'workspace_id')}"
    )
    for conf in confs.iter_rows(named=True):
        wid = conf["workspace_id"]
        deals = dict(
            db.rows(
                "SELECT crm_deal_id, email FROM crm_deliveries WHERE workspace_id = ? AND crm_deal_id IS NOT NULL",
                [wid],
            )
        )
        if not deals:
            continue
        client = connector_for(conf, None, transport=transport, sleep=sleep)
        try:
            stages = client.deal_stages(list(deals))
        finally:
            client.close()
        with db.transaction() as cur:
            for deal_id, deal_stage in stages.items():
                email = deals.get(deal_id)
                lead_stage = HUBSPOT_STAGE_MAP.get(deal_stage)
                cur.execute(
                    "UPDATE crm_deliveries SET crm_deal_stage = ? WHERE workspace_id = ? AND crm_deal_id = ?",
                    [deal_stage, wid, deal_id],
                )
                before = fetch_one(
                    cur,
                    "SELECT stage FROM client_leads WHERE workspace_id = ? AND email = ?",
                    [wid, email],
                )
                if lead_stage and before and before[0] != lead_stage:
                    cur.execute(
                        "UPDATE client_leads SET stage = ?, stage_changed_at = now(), stage_changed_by = 'hubspot'"
                        " WHERE workspace_id = ? AND email = ?",
                        [lead_stage, wid, email],
                    )
                    audit.record(
                        cur,
                        actor="hubspot",
                        action="lead.stage",
                        entity="client_lead",
                        entity_id=f"{wid}:{email}",
                        before={"stage": before[0]},
                        after={"stage": lead_stage, "deal_stage": deal_stage},
                    )
                    changed += 1
    return changed
