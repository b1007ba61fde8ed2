"""Campaign preflight: what must be in place before a campaign is launched or resumed.

Items: a sequence with active steps, sending accounts attached, at least one of them connected,
leads attached with some left to contact, and a sending schedule (when the schedule is known).
A failed item with `blocking=True` means the campaign would sit idle; the page will not resume it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.platform.scope import Scope
from core.platform.store import Database


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool | None  # None: not known from the synced data
    detail: str
    blocking: bool = True


def preflight(db: Database, scope: Scope, workspace_id: int, campaign_id: int) -> list[Item]:
    if not scope.allows(workspace_id):
        return [Item("Access", False, "That campaign belongs to a client you cannot see.")]
    rows = db.rows(
        """
        SELECT c.name, c.total_leads, c.total_leads_contacted,
               (SELECT count(*) FROM bison_sequence_steps s
                 WHERE s.workspace_id = c.workspace_id AND s.campaign_id = c.id AND s.active),
               (SELECT count(DISTINCT s.step_order) FROM bison_sequence_steps s
                 WHERE s.workspace_id = c.workspace_id AND s.campaign_id = c.id AND s.active),
               (SELECT count(*) FROM bison_campaign_sender_emails l
                 WHERE l.workspace_id = c.workspace_id AND l.campaign_id = c.id),
               (SELECT count(*) FROM bison_campaign_sender_emails l JOIN bison_sender_emails e
                   ON e.workspace_id = l.workspace_id AND e.id = l.sender_email_id
                 WHERE l.workspace_id = c.workspace_id AND l.campaign_id = c.id AND e.status = 'connected'),
               (SELECT coalesce(sum(e.daily_limit), 0) FROM bison_campaign_sender_emails l JOIN bison_sender_emails e
                   ON e.workspace_id = l.workspace_id AND e.id = l.sender_email_id
                 WHERE l.workspace_id = c.workspace_id AND l.campaign_id = c.id AND e.status = 'connected'),
               sch.days, CAST(sch.start_time AS VARCHAR), CAST(sch.end_time AS VARCHAR), sch.timezone
        FROM bison_campaigns c
        LEFT JOIN bison_campaign_schedules sch ON sch.workspace_id = c.workspace_id AND sch.campaign_id = c.id
        WHERE c.workspace_id = ? AND c.id = ?
        """,
        [workspace_id, campaign_id],
    )
    if not rows:
        return [Item("Campaign", False, f"No campaign {campaign_id} for this client.")]
    (name, leads, contacted, steps, orders, accounts, connected, capacity, days, start, end, tz) = (
        rows[0]
    )
    left = max((leads or 0) - (contacted or 0), 0)
    items = [
        Item(
            "Sequence",
            steps > 0,
            f"{orders} step(s), {steps} including variants." if steps else "No active steps.",
        ),
        Item(
            "Sending accounts attached",
            accounts > 0,
            f"{accounts} attached." if accounts else "No sending account is attached.",
        ),
        Item(
            "Sending accounts connected",
            connected > 0,
            f"{connected} of {accounts} connected, {capacity:,} emails a day between them."
            if accounts
            else "No sending account is attached.",
        ),
        Item(
            "Leads attached",
            left > 0,
            f"{leads:,} leads, {left:,} not yet contacted." if leads else "No leads are attached.",
        ),
    ]
    if days is None:
        items.append(
            Item(
                "Schedule",
                None,
                "Not known from the synced data; check it in Email Bison.",
                blocking=False,
            )
        )
    else:
        items.append(
            Item(
                "Schedule",
                bool(days),
                f"{', '.join(d[:3].capitalize() for d in days)} {start[:5]}–{end[:5]} {tz}."
                if days
                else "The schedule has no sending days.",
            )
        )
    return items


def blocking_failures(items: list[Item]) -> list[Item]:
    return [i for i in items if i.blocking and i.ok is False]
