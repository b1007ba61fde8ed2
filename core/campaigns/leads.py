"""Email Bison leads: search the mirror, a lead's campaigns and tags as Email Bison has them now,
remove a lead from a campaign, attach or remove tags (audited; the lead's mirror row is read back
from Email Bison and written through core/bison/mirror.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from connectors.bison import BisonClient
from connectors.bison.columns import lead_frame
from connectors.http import ApiError
from core.accounts import access
from core.bison import mirror
from core.platform import audit, connections
from core.platform.scope import Scope
from core.platform.store import Database

ACTIONS = ("remove_from_campaign", "attach_tags", "remove_tags")


class LeadActionError(ValueError):
    pass


def search_leads(
    db: Database, scope: Scope, text: str, *, workspace_id: int | None = None, limit: int = 200
) -> pl.DataFrame:
    """Leads in the mirror whose email, name or company contains `text`, newest first."""
    like = f"%{(text or '').strip().lower()}%"
    only = "" if workspace_id is None else " AND l.workspace_id = $wid"
    return db.query(
        f"""
        SELECT l.workspace_id, l.id, w.name AS client, l.email, l.first_name, l.last_name,
               l.company, l.status, l.campaign_status, l.emails_sent, l.replies, l.updated_at
        FROM bison_leads l JOIN workspaces w ON w.id = l.workspace_id
        WHERE {scope.filter("l.workspace_id")}{only}
          AND (lower(l.email) LIKE $like OR lower(concat_ws(' ', l.first_name, l.last_name)) LIKE $like
               OR lower(coalesce(l.company, '')) LIKE $like)
        ORDER BY l.updated_at DESC NULLS LAST, l.id DESC LIMIT {int(limit)}
        """,
        {"like": like} | ({} if workspace_id is None else {"wid": workspace_id}),
    )


def _client(
    db: Database, user: access.User, workspace_id: int, factory: Callable[[str], BisonClient] | None
) -> BisonClient:
    if not user.scope.allows(workspace_id):
        raise LeadActionError("That lead belongs to a client you cannot see.")
    try:
        return connections.bison_client(db, workspace_id, factory)
    except connections.NotConfigured as exc:
        raise LeadActionError(str(exc)) from None


def lead_detail(
    db: Database,
    user: access.User,
    workspace_id: int,
    lead_id: int,
    *,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> dict[str, Any]:
    """The lead's campaigns (with names) and tags as Email Bison has them now, and the client's
    tags to choose from."""
    client = _client(db, user, workspace_id, client_factory)
    try:
        lead = client.get_lead(int(lead_id))
    except ApiError as exc:
        raise LeadActionError(f"Email Bison could not read lead {lead_id}: {exc}") from None
    finally:
        client.close()
    names = dict(
        db.rows("SELECT id, name FROM bison_campaigns WHERE workspace_id = ?", [workspace_id])
    )
    tags = dict(db.rows("SELECT id, name FROM bison_tags WHERE workspace_id = ?", [workspace_id]))
    return {
        "id": lead.id,
        "email": lead.email,
        "campaigns": [
            {
                "campaign_id": c.campaign_id,
                "campaign": names.get(c.campaign_id, f"campaign {c.campaign_id}"),
                "status": c.status,
                "emails_sent": c.emails_sent,
                "replies": c.replies,
            }
            for c in lead.campaigns
        ],
        "tags": {t.id: t.name for t in lead.tags},
        "all_tags": tags,
    }


def lead_action(
    db: Database,
    user: access.User,
    workspace_id: int,
    lead_id: int,
    action: str,
    *,
    campaign_id: int | None = None,
    tag_ids: list[int] | None = None,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> dict[str, Any]:
    """Remove the lead from a campaign, or attach or remove tags, in Email Bison; audited."""
    access.require(user, "campaign.act")
    if action not in ACTIONS:
        raise LeadActionError(f"Unknown action {action!r}; one of {', '.join(ACTIONS)}.")
    email = db.scalar(
        "SELECT email FROM bison_leads WHERE workspace_id = ? AND id = ?", [workspace_id, lead_id]
    )
    if email is None or not user.scope.allows(workspace_id):
        raise LeadActionError(f"No lead {lead_id} for this client.")
    if action == "remove_from_campaign" and campaign_id is None:
        raise LeadActionError("Say which campaign to remove the lead from.")
    tags = [int(t) for t in tag_ids or []]
    if action != "remove_from_campaign":
        if not tags:
            raise LeadActionError("Pick at least one tag.")
        known = {
            r[0]
            for r in db.rows("SELECT id FROM bison_tags WHERE workspace_id = ?", [workspace_id])
        }
        if set(tags) - known:
            raise LeadActionError(f"No tag {sorted(set(tags) - known)[0]} for this client.")
    client = _client(db, user, workspace_id, client_factory)
    try:
        if action == "remove_from_campaign":
            client.remove_leads_from_campaign(int(campaign_id), [int(lead_id)])
        elif action == "attach_tags":
            client.attach_tags_to_leads(tags, [int(lead_id)])
        else:
            client.detach_tags_from_leads(tags, [int(lead_id)])
        fresh = client.get_lead(int(lead_id))
    except ApiError as exc:
        raise LeadActionError(f"Email Bison refused: {exc}") from None
    finally:
        client.close()
    rows = lead_frame([fresh.raw], workspace_id=workspace_id, synced_at=dt.datetime.now(dt.UTC))
    with db.transaction() as cur:
        mirror.upsert_leads(cur, rows)
        audit.record(
            cur,
            actor=user.email,
            action=f"bison_lead.{action}",
            entity="bison_lead",
            entity_id=f"{workspace_id}:{lead_id}",
            after={"email": email, "campaign_id": campaign_id, "tag_ids": tags or None},
        )
    return {
        "email": email,
        "campaigns": [c.campaign_id for c in fresh.campaigns],
        "tags": sorted(t.id for t in fresh.tags),
    }
