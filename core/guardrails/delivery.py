"""Alert delivery to Slack channels and e-mail, routed by client and severity, de-duplicated.

Each channel gets one message when an alert opens and one when it resolves, never more: the
(alert, channel, event) row in `alert_notifications` is the key. A failed send is retried on the
next run, up to MAX_ATTEMPTS. A channel receives the alerts opened after it was added.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl

from connectors import slack
from core.accounts import access
from core.guardrails import mailer, next_steps
from core.guardrails.checks import SEVERITIES
from core.platform import audit, secrets
from core.platform.store import Database

MAX_ATTEMPTS = 5
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_RANK = "CASE {} WHEN 'info' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


class ChannelError(ValueError):
    pass


def slack_secret_name(channel: str) -> str:
    return f"alerts.slack.{channel}"


def channels(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT c.name, c.kind, coalesce(w.name, 'All clients') AS client, c.min_severity, c.email_to,"
        " CASE WHEN c.kind = 'slack' THEN '…' || r.last4 END AS webhook, c.active, c.created_by, c.created_at"
        " FROM alert_channels c LEFT JOIN workspaces w ON w.id = c.workspace_id"
        " LEFT JOIN secret_refs r ON r.name = 'alerts.slack.' || c.name ORDER BY c.name"
    )


def add_channel(
    db: Database,
    user: access.User,
    name: str,
    kind: str,
    *,
    workspace_id: int | None = None,
    min_severity: str = "warning",
    webhook_url: str | None = None,
    email_to: str | None = None,
) -> str:
    """Add a channel; a Slack webhook URL goes to the secret store. Returns what to show."""
    access.require(user, "alerts.configure")
    name = (name or "").strip().lower()
    if not _NAME_RE.match(name):
        raise ChannelError("Name: lower-case letters, digits, - or _, up to 40 characters.")
    if kind not in ("slack", "email"):
        raise ChannelError("Kind: slack or email.")
    if min_severity not in SEVERITIES:
        raise ChannelError(f"Minimum severity: one of {', '.join(SEVERITIES)}.")
    if db.scalar("SELECT count(*) FROM alert_channels WHERE name = ?", [name]):
        raise ChannelError(f"Name: a channel {name!r} exists already.")
    shown = ""
    if kind == "slack":
        url = (webhook_url or "").strip()
        if not url.startswith(("https://", "http://")):
            raise ChannelError("Webhook URL: paste the Slack incoming-webhook URL (https://…).")
        try:  # a public address only (checked again on every send)
            slack.check_webhook_url(url)
        except slack.SlackError as exc:
            raise ChannelError(f"Webhook URL: {exc}") from None
        shown = secrets.set_secret(
            db, slack_secret_name(name), url, kind="slack_webhook", actor=user.email
        )
        email_to = None
    else:
        addrs = [a.strip() for a in (email_to or "").split(",") if a.strip()]
        if not addrs or not all(_EMAIL_RE.match(a) for a in addrs):
            raise ChannelError("E-mail to: one or more addresses, comma-separated.")
        email_to = ", ".join(addrs)
        shown = email_to
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO alert_channels (name, kind, workspace_id, min_severity, email_to, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [name, kind, workspace_id, min_severity, email_to, user.email],
        )
        audit.record(
            cur,
            actor=user.email,
            action="alert_channel.add",
            entity="alert_channel",
            entity_id=name,
            after={"kind": kind, "workspace_id": workspace_id, "min_severity": min_severity},
        )
    return shown


def remove_channel(db: Database, user: access.User, name: str) -> None:
    access.require(user, "alerts.configure")
    row = db.query("SELECT kind, workspace_id FROM alert_channels WHERE name = ?", [name])
    if row.height == 0:
        raise ChannelError(f"No channel {name!r}.")
    if row["kind"][0] == "slack":
        secrets.delete_secret(db, slack_secret_name(name), actor=user.email)
    with db.transaction() as cur:
        cur.execute("DELETE FROM alert_channels WHERE name = ?", [name])
        audit.record(
            cur,
            actor=user.email,
            action="alert_channel.remove",
            entity="alert_channel",
            entity_id=name,
            before=row.row(0, named=True),
        )


def pending(db: Database) -> pl.DataFrame:
    """The messages owed: (alert, channel, event) with no successful send yet."""
    rank_a, rank_c = _RANK.format("a.severity"), _RANK.format("ch.min_severity")
    return db.query(
        f"""
        WITH routed AS (
            SELECT a.id AS alert_id, a.status, a.severity, a.title, a.explanation, a.first_seen,
                   a.check_name, a.subject_id,
                   a.resolved_at, w.name AS client, ch.name AS channel, ch.kind, ch.email_to
            FROM alerts a JOIN alert_channels ch
              ON ch.active AND (ch.workspace_id IS NULL OR ch.workspace_id = a.workspace_id)
             AND {rank_a} >= {rank_c} AND a.first_seen >= ch.created_at
            LEFT JOIN workspaces w ON w.id = a.workspace_id
        ),
        owed AS (
            SELECT r.*, 'opened' AS event FROM routed r WHERE r.status = 'open'
            UNION ALL
            SELECT r.*, 'resolved' AS event FROM routed r
            WHERE r.status = 'resolved' AND EXISTS (
                SELECT 1 FROM alert_notifications n WHERE n.alert_id = r.alert_id
                  AND n.channel = r.channel AND n.event = 'opened' AND n.status = 'sent')
        )
        SELECT o.*, coalesce(n.attempts, 0) AS attempts FROM owed o
        LEFT JOIN alert_notifications n
          ON n.alert_id = o.alert_id AND n.channel = o.channel AND n.event = o.event
        WHERE n.status IS NULL OR (n.status = 'failed' AND n.attempts < {MAX_ATTEMPTS})
        ORDER BY o.alert_id, o.event
        """
    )


_ICON = {
    "danger": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}


def message_text(row: dict[str, Any]) -> tuple[str, str]:
    """(subject line, body) of one alert message."""
    who = row["client"] or "Agency"
    if row["event"] == "resolved":
        subject = f"Resolved: {row['title']} ({who})"
        body = f"Resolved: {row['title']} — {who}. It is no longer found by the checks."
    else:
        subject = f"[{row['severity']}] {row['title']} ({who})"
        body = f"{row['title']} — {who}\n{row['explanation']}"
        step = next_steps.step_for(row.get("check_name") or "", row.get("subject_id"))
        if step is not next_steps.READ:
            body += f"\nNext step: {step.text}" + (
                f" ({step.where} in LeadOps)" if step.where else ""
            )
    return subject, body


def _send(db: Database, row: dict[str, Any]) -> None:
    subject, body = message_text(row)
    if row["kind"] == "slack":
        url = secrets.get_secret(slack_secret_name(row["channel"]))
        if not url:
            raise slack.SlackError("The webhook URL is missing from the secret store.")
        icon = ":white_check_mark:" if row["event"] == "resolved" else _ICON[row["severity"]]
        slack.post_message(url, f"{icon} {body}")
    else:
        mailer.send(db, [a for a in (row["email_to"] or "").split(",")], subject, body)


def deliver_pending(db: Database) -> dict[str, int]:
    """Send every owed message once; record each outcome (the de-duplication key)."""
    out = {"sent": 0, "failed": 0}
    for row in pending(db).iter_rows(named=True):
        error = None
        try:
            _send(db, row)
        except Exception as exc:  # recorded and retried on the next run
            error = str(exc)[:1000]
        status = "failed" if error else "sent"
        out[status] += 1
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO alert_notifications (alert_id, channel, event, status, attempts, sent_at, error)"
                " VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (alert_id, channel, event) DO UPDATE SET"
                " status = excluded.status, attempts = alert_notifications.attempts + 1,"
                " sent_at = excluded.sent_at, error = excluded.error",
                [
                    row["alert_id"],
                    row["channel"],
                    row["event"],
                    status,
                    None if error else dt.datetime.now(dt.UTC),
                    error,
                ],
            )
    return out


def deliveries(db: Database, *, limit: int = 500) -> pl.DataFrame:
    return db.query(
        "SELECT n.sent_at, n.channel, n.event, n.status, n.attempts, n.error, a.title, a.id AS alert_id"
        " FROM alert_notifications n JOIN alerts a ON a.id = n.alert_id"
        " ORDER BY coalesce(n.sent_at, a.last_seen) DESC LIMIT ?",
        [limit],
    )
