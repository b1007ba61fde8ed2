"""The replies inbox: queries (search, filters, conversation, stats) and staff actions (category
override, interested toggle written back to Email Bison, send an answer, mark handled).

A reply's category is the staff override when there is one, else the rule-based classifier's
(`core/replies/classifier.py`, stored in `reply_labels` by `classify_pending` after each sync),
else what the mirror says. "Interested" is Email Bison's flag, the one source of truth for KPIs
and billing; toggling it here writes it to Email Bison first, then to the mirror.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from connectors.bison import BisonClient
from connectors.http import ApiError
from core.accounts import access
from core.bison import mirror
from core.platform import audit, connections
from core.platform.scope import Scope
from core.platform.store import Database, fetch_one, insert_frame
from core.replies import client_leads
from core.replies.classifier import CATEGORIES, SENTIMENT, classify

FOLDERS = ("Inbox", "Spam", "Bounced")
ClientFactory = Callable[[str], BisonClient]


class ReplyActionError(RuntimeError):
    pass


CATEGORY_SQL = "coalesce(x.override_category, x.category, r.category)"
SENTIMENT_SQL = (
    "CASE WHEN x.override_category IS NOT NULL THEN "
    + "CASE x.override_category "
    + " ".join(f"WHEN '{c}' THEN '{s}'" for c, s in SENTIMENT.items())
    + " END ELSE coalesce(x.sentiment, r.sentiment) END"
)


def classify_pending(db: Database, workspace_ids: list[int] | None = None) -> int:
    """Classify every reply that has no label yet; returns how many were labelled."""
    ws = (
        "true"
        if workspace_ids is None
        else f"r.workspace_id IN ({', '.join(str(int(i)) for i in workspace_ids) or 'NULL'})"
    )
    todo = db.rows(
        f"""SELECT r.workspace_id, r.id, r.text_body, r.automated_reply FROM bison_replies r
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        WHERE x.reply_id IS NULL AND {ws}"""
    )
    if not todo:
        return 0
    memo: dict[tuple[str | None, bool], Any] = {}  # the same text classifies the same way
    labels = []
    for _, _, body, auto in todo:
        key = (body, bool(auto))
        if key not in memo:
            memo[key] = classify(body, automated=bool(auto))
        labels.append(memo[key])
    frame = pl.DataFrame(
        {
            "workspace_id": [r[0] for r in todo],
            "reply_id": [r[1] for r in todo],
            "category": [c.category for c in labels],
            "sentiment": [c.sentiment for c in labels],
            "rule": [c.rule for c in labels],
        },
        schema={
            "workspace_id": pl.Int32,
            "reply_id": pl.Int64,
            "category": pl.Utf8,
            "sentiment": pl.Utf8,
            "rule": pl.Utf8,
        },
    )
    with db.transaction() as cur:
        insert_frame(cur, "reply_labels", frame)
    return frame.height


READ_SQL = "(r.read OR x.opened_at IS NOT NULL)"  # read in Email Bison, or opened here
PAGE_SIZE = 100


def _inbox_filter(
    scope: Scope,
    *,
    search: str | None = None,
    campaign_id: int | None = None,
    category: str | None = None,
    sentiment: str | None = None,
    interested: bool | None = None,
    unread: bool = False,
    unhandled: bool = False,
    folder: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (over bison_replies r LEFT JOIN reply_labels x) and its parameters."""
    where, params = [scope.filter("r.workspace_id"), "coalesce(r.folder, 'Inbox') <> 'Sent'"], {}
    if search:
        where.append(
            "(r.from_email ILIKE $q OR r.from_name ILIKE $q OR r.subject ILIKE $q OR r.text_body ILIKE $q)"
        )
        params["q"] = f"%{search}%"
    if campaign_id is not None:
        where.append("r.campaign_id = $campaign")
        params["campaign"] = int(campaign_id)
    if category:
        where.append(f"{CATEGORY_SQL} = $category")
        params["category"] = category
    if sentiment:
        where.append(f"{SENTIMENT_SQL} = $sentiment")
        params["sentiment"] = sentiment
    if interested is not None:
        where.append("r.interested = $interested")
        params["interested"] = interested
    if unread:
        where.append(f"NOT {READ_SQL}")
    if unhandled:
        where.append("x.handled_at IS NULL")
    if folder:
        where.append("coalesce(r.folder, 'Inbox') = $folder")
        params["folder"] = folder
    if since:
        where.append("r.date_received >= $since")
        params["since"] = dt.datetime.combine(since, dt.time(), dt.UTC)
    if until:
        where.append("r.date_received < $until")
        params["until"] = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    return " AND ".join(where), params


def inbox(
    db: Database,
    scope: Scope,
    *,
    search: str | None = None,
    campaign_id: int | None = None,
    category: str | None = None,
    sentiment: str | None = None,
    interested: bool | None = None,
    unread: bool = False,
    unhandled: bool = False,
    folder: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int = 500,
    offset: int = 0,
) -> pl.DataFrame:
    """Replies newest first with their client, campaign, category and handling state: the
    `limit` replies after the first `offset` that match (`inbox_count` says how many match).

    `since` and `until` are days (UTC), both included; `unread` keeps replies neither read in
    Email Bison nor opened here. Columns: workspace_id, id, received, client, name, category,
    interested, preview, sentiment, read, handled, overridden, subject, campaign, from_email,
    folder, campaign_id.
    """
    if limit < 1 or offset < 0:
        raise ValueError(f"A page needs limit ≥ 1 and offset ≥ 0, not {limit} and {offset}.")
    where, params = _inbox_filter(
        scope,
        search=search,
        campaign_id=campaign_id,
        category=category,
        sentiment=sentiment,
        interested=interested,
        unread=unread,
        unhandled=unhandled,
        folder=folder,
        since=since,
        until=until,
    )
    params["limit"] = int(limit)
    params["offset"] = int(offset)
    # pick the page of replies first, then decorate only those rows
    return db.query(
        f"""
        WITH page AS (
            SELECT r.workspace_id, r.id FROM bison_replies r
            LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
            WHERE {where}
            ORDER BY r.date_received DESC, r.id DESC LIMIT $limit OFFSET $offset
        )
        SELECT r.workspace_id, r.id, r.date_received AS received, w.name AS client,
               coalesce(r.from_name, r.from_email) AS name, {CATEGORY_SQL} AS category,
               r.interested, left(regexp_replace(coalesce(r.text_body, ''), '\\s+', ' ', 'g'), 140) AS preview,
               {SENTIMENT_SQL} AS sentiment, {READ_SQL} AS read, x.handled_at IS NOT NULL AS handled,
               x.override_category IS NOT NULL AS overridden, r.subject, bc.name AS campaign,
               r.from_email, coalesce(r.folder, 'Inbox') AS folder, r.campaign_id
        FROM page JOIN bison_replies r ON r.workspace_id = page.workspace_id AND r.id = page.id
        JOIN workspaces w ON w.id = r.workspace_id
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        LEFT JOIN bison_campaigns bc ON bc.workspace_id = r.workspace_id AND bc.id = r.campaign_id
        ORDER BY r.date_received DESC, r.id DESC
        """,
        params,
    )


def inbox_count(
    db: Database,
    scope: Scope,
    *,
    search: str | None = None,
    campaign_id: int | None = None,
    category: str | None = None,
    sentiment: str | None = None,
    interested: bool | None = None,
    unread: bool = False,
    unhandled: bool = False,
    folder: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> dict[str, int]:
    """How many replies match the `inbox` filters: total, interested, unread and unhandled."""
    where, params = _inbox_filter(
        scope,
        search=search,
        campaign_id=campaign_id,
        category=category,
        sentiment=sentiment,
        interested=interested,
        unread=unread,
        unhandled=unhandled,
        folder=folder,
        since=since,
        until=until,
    )
    row = db.query(
        f"""
        SELECT count(*) AS total, count(*) FILTER (WHERE r.interested) AS interested,
               count(*) FILTER (WHERE NOT {READ_SQL}) AS unread,
               count(*) FILTER (WHERE x.handled_at IS NULL) AS unhandled
        FROM bison_replies r
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        WHERE {where}
        """,
        params or None,
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def campaigns(db: Database, scope: Scope) -> list[tuple[int, str]]:
    return [
        (int(i), n)
        for i, n in db.rows(
            f"SELECT DISTINCT c.id, w.name || ' · ' || c.name FROM bison_campaigns c"
            f" JOIN workspaces w ON w.id = c.workspace_id WHERE {scope.filter('c.workspace_id')} ORDER BY 2"
        )
    ]


def stats(db: Database, scope: Scope, *, by: str = "client") -> pl.DataFrame:
    """Replies per category and interested, per client or per campaign."""
    group = {
        "client": "w.name",
        "campaign": "w.name || ' · ' || coalesce(bc.name, '(no campaign)')",
    }[by]
    cats = ", ".join(f"count(*) FILTER (WHERE {CATEGORY_SQL} = '{c}') AS {c}" for c in CATEGORIES)
    return db.query(
        f"""
        SELECT {group} AS {by}, count(*) AS replies, count(*) FILTER (WHERE r.interested) AS interested,
               round(count(*) FILTER (WHERE r.interested) / count(*), 4) AS interested_rate,
               count(*) FILTER (WHERE NOT {READ_SQL}) AS unread, {cats}
        FROM bison_replies r JOIN workspaces w ON w.id = r.workspace_id
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        LEFT JOIN bison_campaigns bc ON bc.workspace_id = r.workspace_id AND bc.id = r.campaign_id
        WHERE {scope.filter("r.workspace_id")} AND coalesce(r.folder, 'Inbox') <> 'Sent'
        GROUP BY ALL ORDER BY replies DESC
        """
    )


def conversation(db: Database, scope: Scope, workspace_id: int, reply_id: int) -> dict[str, Any]:
    """The reply, why it has its category, the campaign email it answers, the other replies
    from the same person, and the answers we sent."""
    if not scope.allows(workspace_id):
        return {}
    reply = db.query(
        f"""
        SELECT r.*, w.name AS client, bc.name AS campaign, {CATEGORY_SQL} AS effective_category,
               x.category AS rule_category, x.rule, x.override_category, x.override_by, x.override_at,
               x.handled_at, x.handled_by, x.opened_at, x.opened_by,
               s.name AS sender_name, s.email AS sender_email
        FROM bison_replies r JOIN workspaces w ON w.id = r.workspace_id
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        LEFT JOIN bison_campaigns bc ON bc.workspace_id = r.workspace_id AND bc.id = r.campaign_id
        LEFT JOIN bison_sender_emails s ON s.workspace_id = r.workspace_id AND s.id = r.sender_email_id
        WHERE r.workspace_id = ? AND r.id = ?
        """,
        [workspace_id, reply_id],
    )
    if reply.height == 0:
        return {}
    row = reply.row(0, named=True)
    # the campaign email answered: the step whose subject the reply quotes, else the first step
    original = db.query(
        """
        SELECT step_order, email_subject, email_body FROM bison_sequence_steps
        WHERE workspace_id = ? AND campaign_id = ? AND NOT variant
        ORDER BY (? ILIKE '%' || coalesce(email_subject, '') || '%') DESC, step_order LIMIT 1
        """,
        [workspace_id, row["campaign_id"], row["subject"] or ""],
    )
    thread = db.query(
        f"""
        SELECT r.id, r.date_received AS received, r.subject, r.text_body, {CATEGORY_SQL} AS category, r.interested
        FROM bison_replies r
        LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
        WHERE r.workspace_id = ? AND coalesce(r.folder, 'Inbox') <> 'Sent' AND r.id <> ?
          AND ((r.lead_id IS NOT NULL AND r.lead_id = ?) OR lower(r.from_email) = lower(?))
        ORDER BY r.date_received
        """,
        [workspace_id, reply_id, row["lead_id"], row["from_email"] or ""],
    )
    sent = db.query(
        "SELECT sent_at, sent_by, to_email, body FROM reply_sends WHERE workspace_id = ? AND reply_id = ?"
        " ORDER BY sent_at",
        [workspace_id, reply_id],
    )
    return {
        "reply": row,
        "original": original.row(0, named=True) if original.height else None,
        "thread": thread,
        "sent": sent,
    }


# -- actions -----------------------------------------------------------------------------------


def _check(db: Database, user: access.User, workspace_id: int, reply_id: int) -> dict[str, Any]:
    access.require(user, "replies.manage")
    if not user.scope.allows(workspace_id):
        raise ReplyActionError("That reply belongs to a client you cannot act for.")
    df = db.query(
        "SELECT r.id, r.interested, r.from_email, x.category, x.override_category FROM bison_replies r"
        " LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id"
        " WHERE r.workspace_id = ? AND r.id = ?",
        [workspace_id, reply_id],
    )
    if df.height == 0:
        raise ReplyActionError(f"No reply {reply_id} for this client.")
    return df.row(0, named=True)


def set_category(
    db: Database, user: access.User, workspace_id: int, reply_id: int, category: str | None
) -> None:
    """Override the classifier (None clears the override); stored with who and when."""
    before = _check(db, user, workspace_id, reply_id)
    if category is not None and category not in CATEGORIES:
        raise ReplyActionError(f"Category: must be one of {', '.join(CATEGORIES)}.")
    with db.transaction() as cur:
        if before["category"] is None:  # not classified yet: classify now so the row exists
            body, auto = fetch_one(
                cur,
                "SELECT text_body, automated_reply FROM bison_replies WHERE workspace_id = ? AND id = ?",
                [workspace_id, reply_id],
            )
            c = classify(body, automated=bool(auto))
            cur.execute(
                "INSERT INTO reply_labels (workspace_id, reply_id, category, sentiment, rule) VALUES (?, ?, ?, ?, ?)",
                [workspace_id, reply_id, c.category, c.sentiment, c.rule],
            )
        cur.execute(
            "UPDATE reply_labels SET override_category = ?, override_by = ?, override_at = ?"
            " WHERE workspace_id = ? AND reply_id = ?",
            [
                category,
                user.email if category else None,
                dt.datetime.now(dt.UTC) if category else None,
                workspace_id,
                reply_id,
            ],
        )
        audit.record(
            cur,
            actor=user.email,
            action="reply.category",
            entity="reply",
            entity_id=f"{workspace_id}:{reply_id}",
            before={"category": before["override_category"] or before["category"]},
            after={"override": category},
        )


def _bison(db: Database, workspace_id: int, factory: ClientFactory | None) -> BisonClient:
    try:
        return connections.bison_client(db, workspace_id, factory)
    except connections.NotConfigured as exc:
        raise ReplyActionError(str(exc)) from None


def set_interested(
    db: Database,
    user: access.User,
    workspace_id: int,
    reply_id: int,
    interested: bool,
    *,
    client_factory: ClientFactory | None = None,
) -> list[tuple[int, str]]:
    """Mark a reply (not) interested in Email Bison, then in the mirror; returns new leads."""
    before = _check(db, user, workspace_id, reply_id)
    client = _bison(db, workspace_id, client_factory)
    try:
        if interested:
            client.mark_interested(int(reply_id))
        else:
            client.mark_not_interested(int(reply_id))
    except ApiError as exc:
        raise ReplyActionError(f"Email Bison did not accept the change: {exc}") from None
    finally:
        client.close()
    with db.transaction() as cur:
        mirror.set_reply_interested(cur, workspace_id, reply_id, interested)
        audit.record(
            cur,
            actor=user.email,
            action="reply.interested" if interested else "reply.not_interested",
            entity="reply",
            entity_id=f"{workspace_id}:{reply_id}",
            before={"interested": before["interested"]},
            after={"interested": interested},
        )
    return client_leads.refresh(db, [workspace_id]) if interested else []


def mark_handled(
    db: Database, user: access.User, workspace_id: int, reply_id: int, handled: bool = True
) -> None:
    before = _check(db, user, workspace_id, reply_id)
    if before["category"] is None:
        classify_pending(db, [workspace_id])
    with db.transaction() as cur:
        cur.execute(
            "UPDATE reply_labels SET handled_at = ?, handled_by = ? WHERE workspace_id = ? AND reply_id = ?",
            [
                dt.datetime.now(dt.UTC) if handled else None,
                user.email if handled else None,
                workspace_id,
                reply_id,
            ],
        )
        audit.record(
            cur,
            actor=user.email,
            action="reply.handled" if handled else "reply.unhandled",
            entity="reply",
            entity_id=f"{workspace_id}:{reply_id}",
        )


def mark_opened(db: Database, user: access.User, workspace_id: int, reply_id: int) -> bool:
    """Record that `user` opened the reply (the first opening only): it no longer counts as
    unread, whatever Email Bison's read flag says. Anyone who may see the client's replies may
    open them. Returns True when this was the first opening."""
    if not user.scope.allows(workspace_id):
        raise ReplyActionError("That reply belongs to a client you cannot see.")
    row = db.query(
        "SELECT r.id, x.reply_id AS labelled, x.opened_at FROM bison_replies r"
        " LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id"
        " WHERE r.workspace_id = ? AND r.id = ?",
        [workspace_id, reply_id],
    )
    if row.height == 0:
        raise ReplyActionError(f"No reply {reply_id} for this client.")
    if row["opened_at"][0] is not None:
        return False
    if row["labelled"][0] is None:
        classify_pending(db, [workspace_id])
    with db.transaction() as cur:
        cur.execute(
            "UPDATE reply_labels SET opened_at = ?, opened_by = ?"
            " WHERE workspace_id = ? AND reply_id = ? AND opened_at IS NULL",
            [dt.datetime.now(dt.UTC), user.email, workspace_id, reply_id],
        )
        mirror.mark_reply_read(cur, workspace_id, reply_id)
    return True


def send_reply(
    db: Database,
    user: access.User,
    workspace_id: int,
    reply_id: int,
    message: str,
    *,
    client_factory: ClientFactory | None = None,
) -> int | None:
    """Answer in the thread through Email Bison (sent once, never retried), record and mark handled."""
    before = _check(db, user, workspace_id, reply_id)
    message = (message or "").strip()
    if not message:
        raise ReplyActionError("Message: write the answer first.")
    if "{" in message and "}" in message:
        raise ReplyActionError(
            "Message: it still contains a merge field in braces; fill it in before sending."
        )
    client = _bison(db, workspace_id, client_factory)
    try:
        sent = client.reply_to(int(reply_id), message, content_type="text")
    except ApiError as exc:
        raise ReplyActionError(f"Email Bison did not send the answer: {exc}") from None
    finally:
        client.close()
    if before["category"] is None:
        classify_pending(db, [workspace_id])
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO reply_sends (workspace_id, reply_id, bison_reply_id, to_email, body, sent_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [workspace_id, reply_id, sent.id, before["from_email"], message, user.email],
        )
        cur.execute(
            "UPDATE reply_labels SET handled_at = now(), handled_by = ? WHERE workspace_id = ? AND reply_id = ?",
            [user.email, workspace_id, reply_id],
        )
        mirror.mark_reply_read(cur, workspace_id, reply_id)
        audit.record(
            cur,
            actor=user.email,
            action="reply.send",
            entity="reply",
            entity_id=f"{workspace_id}:{reply_id}",
            after={"bison_reply_id": sent.id, "chars": len(message)},
        )
    return sent.id
