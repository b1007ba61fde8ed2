"""Milestone notices to the team's Slack channel (incoming webhook; the URL is in the secret store).

Milestones: pull done, refinement done, batches uploaded, evergreen updated. A notice that cannot
be delivered is recorded with its error and never fails the work it reports on.
"""

from __future__ import annotations

import polars as pl

from connectors import slack
from connectors.http import ApiError, redact
from core.accounts import access
from core.platform import audit, secrets
from core.platform.store import Database

WEBHOOK_SECRET = "slack.webhook"
MILESTONES = ("pull done", "refinement done", "batches uploaded", "evergreen updated")


def set_webhook(db: Database, user: access.User, url: str) -> str:
    access.require(user, "secrets.manage")
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")):
        raise ValueError(
            "Slack webhook: paste the incoming-webhook URL (https://hooks.slack.com/…)."
        )
    try:
        slack.check_webhook_url(url)
    except slack.SlackError as exc:
        raise ValueError(f"Slack webhook: {exc}") from None
    masked = secrets.set_secret(db, WEBHOOK_SECRET, url, kind="slack_webhook", actor=user.email)
    with db.transaction() as cur:
        audit.record(
            cur,
            actor=user.email,
            action="notices.webhook",
            entity="secret",
            entity_id=WEBHOOK_SECRET,
            after={"value": masked},
        )
    return masked


def notify(db: Database, milestone: str, text: str, workspace_id: int | None = None) -> bool:
    """Send one notice if a webhook is configured; record the attempt. Never raises."""
    url = secrets.get_secret(WEBHOOK_SECRET)
    if not url:
        return False
    from connectors.slack import SlackError, post_message

    error = None
    try:
        post_message(url, f"*{milestone.capitalize()}* — {text}")
    except (ApiError, SlackError, OSError) as exc:
        error = redact(str(exc))[:300]
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO notices (workspace_id, milestone, text, delivered, error) VALUES (?, ?, ?, ?, ?)",
            [workspace_id, milestone, text, error is None, error],
        )
    return error is None


def recent(db: Database, limit: int = 50) -> pl.DataFrame:
    return db.query(
        "SELECT n.sent_at, w.name AS client, n.milestone, n.text, n.delivered, n.error"
        " FROM notices n LEFT JOIN workspaces w ON w.id = n.workspace_id ORDER BY n.id DESC LIMIT ?",
        [limit],
    )


def webhook_last4(db: Database) -> str | None:
    return db.scalar("SELECT last4 FROM secret_refs WHERE name = ?", [WEBHOOK_SECRET])
