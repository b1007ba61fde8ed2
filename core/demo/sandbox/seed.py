"""A sandbox workspace filled from the demo database: what the mirror holds for its client is what
the simulated Email Bison serves (same ids, counters, timestamps, per-day and per-step series),
so a sync against it writes back what is already there.

A client the mirror has nothing for yet (one added after the demo was loaded) starts with what a
new Email Bison workspace would be given: one active campaign with a three-step sequence and a
few connected sending accounts.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from core.demo import data as D
from core.demo.sandbox.data import FakeLead, FakeReply, FakeWorkspace, iso
from core.platform.store import Database

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
STARTER_SENDERS = 3


def _ts(value: dt.datetime | None, default: float) -> float:
    return value.timestamp() if value is not None else default


def _title(status: str | None) -> str | None:
    """Email Bison's spelling of a status (`active` -> `Active`)."""
    return status[:1].upper() + status[1:] if status else status


def _rows(db: Database, sql: str, wid: int) -> list[dict[str, Any]]:
    return db.query(sql, [wid]).to_dicts()


def next_ids(db: Database) -> dict[str, int]:
    """Ids for records the sandbox creates, past every id the mirror (and the uploads) hold."""

    def after(sql: str) -> int:
        return int(db.scalar(sql) or 0) + 1

    return {
        "campaign": after("SELECT max(id) FROM bison_campaigns"),
        "lead": max(
            after("SELECT max(id) FROM bison_leads"),
            after("SELECT max(bison_lead_id) FROM contacts"),
        ),
        "reply": after("SELECT max(id) FROM bison_replies"),
        "tag": max(
            after("SELECT max(id) FROM bison_tags"), after("SELECT max(bison_tag_id) FROM batches")
        ),
        "sender": after("SELECT max(id) FROM bison_sender_emails"),
        "step": after("SELECT max(id) FROM bison_sequence_steps"),
    }


def load_workspace(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    """Fill `ws` (the sandbox workspace of LeadOps client `wid`) from the mirror."""
    _campaigns(db, wid, ws, now)
    _senders(db, wid, ws, now)
    for t in _rows(db, "SELECT id, name, is_default FROM bison_tags WHERE workspace_id = ?", wid):
        ws.tags[t["id"]] = {
            "id": t["id"],
            "name": t["name"],
            "default": bool(t["is_default"]),
            "created": ws.created,
            "updated": ws.created,
        }
    _leads(db, wid, ws, now)
    _uploaded(db, wid, ws, now)
    _replies(db, wid, ws, now)
    _series(db, wid, ws)
    if not ws.campaigns:
        starter(ws, now)


def _campaigns(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    steps: dict[int, list[dict[str, Any]]] = {}
    for s in _rows(
        db,
        "SELECT * FROM bison_sequence_steps WHERE workspace_id = ? ORDER BY campaign_id, step_order,"
        " variant, id",
        wid,
    ):
        steps.setdefault(s["campaign_id"], []).append(
            {
                "id": s["id"],
                "email_subject": s["email_subject"],
                "order": s["step_order"],
                "email_body": s["email_body"],
                "wait_in_days": s["wait_in_days"],
                "variant": bool(s["variant"]),
                "attachments": [],
                "thread_reply": bool(s["thread_reply"]),
                "active": bool(s["active"]),
                "variant_from_step_id": s["variant_of_step_id"],
            }
        )
    for c in _rows(
        db,
        "SELECT * FROM bison_campaigns WHERE workspace_id = ? AND status <> 'deleted' ORDER BY id",
        wid,
    ):
        cid = c["id"]
        created = _ts(c["created_at"], now)
        total = int(c["total_leads"] or 0)
        ws.campaigns[cid] = {
            "id": cid,
            "uuid": c["uuid"] or str(uuid.UUID(int=cid)),
            "name": c["name"],
            "type": c["type"] or "outbound",
            "status": _title(c["status"]),
            "completion_percentage": round(
                100 * min(1.0, int(c["total_leads_contacted"] or 0) / total), 2
            )
            if total
            else 0.0,
            **{
                k: int(c[k] or 0)
                for k in (
                    "emails_sent",
                    "opened",
                    "unique_opens",
                    "replied",
                    "unique_replies",
                    "bounced",
                    "unsubscribed",
                    "interested",
                    "total_leads_contacted",
                    "total_leads",
                )
            },
            "max_emails_per_day": c["max_emails_per_day"],
            "max_new_leads_per_day": c["max_new_leads_per_day"],
            "plain_text": True,
            "open_tracking": True,
            "can_unsubscribe": True,
            "unsubscribe_text": "Unsubscribe here",
            "sequence_id": cid if cid in steps else None,
            "tag_ids": [],
            "strings": False,
            "created": created,
            "updated": _ts(c["updated_at"], created),
        }
        if cid in steps:
            ws.sequences[cid] = steps[cid]
        ws.schedules[cid] = None  # a campaign without a schedule row has none
    for s in _rows(db, "SELECT * FROM bison_campaign_schedules WHERE workspace_id = ?", wid):
        if s["campaign_id"] not in ws.campaigns:
            continue
        stamp = iso(ws.campaigns[s["campaign_id"]]["created"])
        ws.schedules[s["campaign_id"]] = {
            "id": s["campaign_id"],
            "campaign_id": s["campaign_id"],
            **{d: d in (s["days"] or []) for d in WEEK},
            "start_time": f"{s['start_time']:%H:%M}",
            "end_time": f"{s['end_time']:%H:%M}",
            "timezone": s["timezone"],
            "created_at": stamp,
            "updated_at": stamp,
        }


def _sender(sid: int, name: str | None, email: str, created: float, **counts: Any) -> dict:
    sent = int(counts.get("emails_sent_count") or 0)
    replied = int(counts.get("total_replied_count") or 0)
    return {
        "id": sid,
        "name": name,
        "email": email,
        "email_signature": f"<p>{name or ''}</p>",
        "imap_server": "imap.sandbox.invalid",
        "imap_port": 993,
        "smtp_server": "smtp.sandbox.invalid",
        "smtp_port": 587,
        "daily_limit": counts.get("daily_limit"),
        "type": counts.get("type") or "Inbox",
        "status": _title(counts.get("status")),
        "warmup_enabled": counts.get("warmup_enabled"),
        "emails_sent_count": sent,
        "total_replied_count": replied,
        "total_opened_count": sent // 4,
        "unsubscribed_count": int(counts.get("unsubscribed_count") or 0),
        "bounced_count": int(counts.get("bounced_count") or 0),
        "unique_replied_count": replied,
        "unique_opened_count": sent // 5,
        "total_leads_contacted_count": sent // 2,
        "interested_leads_count": int(counts.get("interested_leads_count") or 0),
        "tag_ids": [],
        "created": created,
        "updated": counts.get("updated", created),
    }


def _senders(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    for s in _rows(db, "SELECT * FROM bison_sender_emails WHERE workspace_id = ? ORDER BY id", wid):
        created = _ts(s.pop("created_at"), ws.created)
        s["updated"] = _ts(s.pop("updated_at"), created)
        sid = s.pop("id")
        ws.senders[sid] = _sender(sid, s.pop("name"), s.pop("email"), created, **s)
    for campaign_id, sender_id in db.rows(
        "SELECT campaign_id, sender_email_id FROM bison_campaign_sender_emails"
        " WHERE workspace_id = ? ORDER BY ALL",
        [wid],
    ):
        if campaign_id in ws.campaigns:
            ws.campaign_senders.setdefault(campaign_id, []).append(sender_id)
    for cid in ws.campaigns:
        ws.campaign_senders.setdefault(cid, [])


def _leads(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    """Leads with their campaign: the one of their latest reply, else the workspace's first."""
    first = min(ws.campaigns, default=None)
    for r in _rows(
        db,
        """
        SELECT l.*, r.campaign_id, coalesce(r.interested, false) AS interested
        FROM bison_leads l LEFT JOIN (
            SELECT lead_id, arg_max(campaign_id, date_received) AS campaign_id,
                   bool_or(interested) AS interested
            FROM bison_replies WHERE workspace_id = $1 AND lead_id IS NOT NULL GROUP BY lead_id
        ) r ON r.lead_id = l.id
        WHERE l.workspace_id = $1 ORDER BY l.id
        """,
        wid,
    ):
        created = _ts(r["created_at"], now)
        campaign = r["campaign_id"] or first
        lead = FakeLead(
            id=r["id"],
            email=r["email"],
            first_name=r["first_name"],
            last_name=r["last_name"],
            status=r["status"] or "verified",
            created=created,
            updated=_ts(r["updated_at"], created),
            company=r["company"],
            variables=json.loads(r["custom_variables"]) if r["custom_variables"] else None,
            campaigns=[
                {
                    "campaign_id": campaign,
                    "status": r["campaign_status"],
                    "emails_sent": int(r["emails_sent"] or 0),
                    "replies": int(r["replies"] or 0),
                    "opens": 0,
                    "interested": bool(r["interested"]),
                }
            ]
            if r["campaign_status"] and campaign is not None
            else None,
            emails_sent=int(r["emails_sent"] or 0),
            replies=int(r["replies"] or 0),
        )
        ws.leads[lead.id] = lead
        ws.lead_ids_by_email[lead.email.strip().lower()] = lead.id


def _uploaded(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    """What uploads sent since the last sync (a restart lost it from memory): the batches' tags
    and the uploaded contacts' leads, in their campaign, so a retried upload, a revert or the
    evergreen step finds them."""
    for tag_id, name, created in db.rows(
        "SELECT bison_tag_id, any_value(name), min(created_at) FROM batches WHERE workspace_id = ?"
        " AND bison_tag_id IS NOT NULL GROUP BY ALL",
        [wid],
    ):
        if tag_id not in ws.tags:
            stamp = _ts(created, now)
            ws.tags[tag_id] = {
                "id": tag_id,
                "name": name,
                "default": False,
                "created": stamp,
                "updated": stamp,
            }
    for r in _rows(
        db,
        """
        SELECT c.bison_lead_id AS id, c.email, c.first_name, c.last_name, c.uploaded_at,
               b.bison_campaign_id, b.bison_tag_id
        FROM contacts c LEFT JOIN batches b ON b.id = c.batch_id
        WHERE c.workspace_id = $1 AND c.bison_lead_id IS NOT NULL
          AND c.bison_lead_id NOT IN (SELECT id FROM bison_leads WHERE workspace_id = $1)
        ORDER BY c.bison_lead_id
        """,
        wid,
    ):
        email = r["email"].strip().lower()
        if r["id"] in ws.leads or email in ws.lead_ids_by_email:
            continue
        stamp = _ts(r["uploaded_at"], now)
        campaign = r["bison_campaign_id"] if r["bison_campaign_id"] in ws.campaigns else None
        ws.leads[r["id"]] = FakeLead(
            id=r["id"],
            email=email,
            first_name=r["first_name"],
            last_name=r["last_name"],
            status="unverified",
            created=stamp,
            updated=stamp,
            campaigns=[
                {
                    "campaign_id": campaign,
                    "status": "in_sequence",
                    "emails_sent": 0,
                    "replies": 0,
                    "opens": 0,
                    "interested": False,
                }
            ]
            if campaign
            else None,
            tag_ids=[r["bison_tag_id"]] if r["bison_tag_id"] in ws.tags else None,
        )
        ws.lead_ids_by_email[email] = r["id"]


def _replies(db: Database, wid: int, ws: FakeWorkspace, now: float) -> None:
    """Oldest id first, so the newest-first listing starts with the highest id (as the sync's
    cursor expects)."""
    for r in _rows(db, "SELECT * FROM bison_replies WHERE workspace_id = ? ORDER BY id", wid):
        received = _ts(r["date_received"], now)
        ws.replies[r["id"]] = FakeReply(
            id=r["id"],
            campaign_id=r["campaign_id"],
            lead_id=r["lead_id"],
            sender_email_id=r["sender_email_id"],
            folder=r["folder"] or "Inbox",
            type=r["type"] or ("Tracked Reply" if r["campaign_id"] else "Untracked Reply"),
            subject=r["subject"] or "",
            text=r["text_body"] or "",
            from_name=r["from_name"] or "",
            from_email=r["from_email"] or "",
            to_email=r["to_email"],
            received=received,
            updated=_ts(r["updated_at"], received),
            interested=bool(r["interested"]),
            automated=bool(r["automated_reply"]),
            read=bool(r["read"]),
            scheduled_email_id=r["scheduled_email_id"],
            uuid=r["uuid"],
        )


def _series(db: Database, wid: int, ws: FakeWorkspace) -> None:
    ws.daily_seed = {}
    for cid, day, sent, opens, replies, interested, bounced, unsub in db.rows(
        "SELECT campaign_id, day, sent, opens, replies, interested, bounced, unsubscribed"
        " FROM bison_campaign_daily WHERE workspace_id = ?",
        [wid],
    ):
        ws.daily_seed[(cid, day.toordinal())] = {
            "sent": sent,
            "replied": replies,
            "total_opens": opens,
            "unique_opens": opens,
            "bounced": bounced,
            "unsubscribed": unsub,
            "interested": interested,
        }
    ws.step_seed = {}
    for cid, step, day, sent, opened, replied, interested, bounced, unsub in db.rows(
        "SELECT campaign_id, step_id, day, sent, opened, replied, interested, bounced,"
        " unsubscribed FROM bison_step_stats WHERE workspace_id = ?",
        [wid],
    ):
        ws.step_seed.setdefault((cid, day.toordinal()), {})[step] = {
            "sent": sent,
            "unique_opens": opened,
            "unique_replies": replied,
            "interested": interested,
            "bounced": bounced,
            "unsubscribed": unsub,
        }


def starter(ws: FakeWorkspace, now: float) -> None:
    """A new workspace's first campaign (active, three steps) and connected sending accounts."""
    ids = ws.next_ids
    cid = ids["campaign"]
    ids["campaign"] += 1
    first_name = ws.name.split()[0] if ws.name.split() else "Agent"
    domain = "".join(ch for ch in ws.name.lower() if ch.isalnum())[:20] or "agency"
    for k in range(STARTER_SENDERS):
        sid = ids["sender"]
        ids["sender"] += 1
        ws.senders[sid] = _sender(
            sid,
            f"{first_name} {ws.name.split()[-1] if len(ws.name.split()) > 1 else ''}".strip(),
            f"{first_name.lower()}{k + 1}@{domain}-mail.com",
            now,
            daily_limit=30,
            status="connected",
            warmup_enabled=True,
        )
    sequence = []
    for s, wait in enumerate(D.STEP_WAIT_DAYS[:3]):
        subject, body = D.STEPS_COPY[s][0]
        sequence.append(
            {
                "id": ids["step"],
                "email_subject": subject,
                "order": s + 1,
                "email_body": body,
                "wait_in_days": wait,
                "variant": False,
                "attachments": [],
                "thread_reply": s > 0,
                "active": True,
                "variant_from_step_id": None,
            }
        )
        ids["step"] += 1
    ws.campaigns[cid] = {
        "id": cid,
        "uuid": str(uuid.UUID(int=cid)),
        "name": f"{ws.name} — Evergreen",
        "type": "outbound",
        "status": "Active",
        "completion_percentage": 0.0,
        **dict.fromkeys(
            (
                "emails_sent",
                "opened",
                "unique_opens",
                "replied",
                "unique_replies",
                "bounced",
                "unsubscribed",
                "interested",
                "total_leads_contacted",
                "total_leads",
            ),
            0,
        ),
        "max_emails_per_day": 1000,
        "max_new_leads_per_day": 100,
        "plain_text": True,
        "open_tracking": True,
        "can_unsubscribe": True,
        "unsubscribe_text": "Unsubscribe here",
        "sequence_id": cid,
        "tag_ids": [],
        "strings": False,
        "created": now,
        "updated": now,
    }
    ws.sequences[cid] = sequence
    ws.campaign_senders[cid] = list(ws.senders)
    stamp = iso(now)
    ws.schedules[cid] = {
        "id": cid,
        "campaign_id": cid,
        **{d: d not in ("saturday", "sunday") for d in WEEK},
        "start_time": "08:00",
        "end_time": "17:00",
        "timezone": "America/New_York",
        "created_at": stamp,
        "updated_at": stamp,
    }
