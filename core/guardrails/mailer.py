"""Outgoing e-mail through the SMTP server in Settings (smtp_*); the password is in the secret store."""

from __future__ import annotations

from connectors import smtp
from core.accounts import access
from core.platform import secrets, settings
from core.platform.store import Database

PASSWORD_SECRET = "smtp.password"  # the name it has when saved on the Alerts page
PASSWORD_KIND = "smtp_password"


class MailError(RuntimeError):
    """E-mail could not be sent; the message says why (never the password)."""


def set_password(db: Database, user: access.User, value: str) -> str:
    """Keep the SMTP password in the secret store; returns its masked form."""
    access.require(user, "secrets.manage")
    if not (value or "").strip():
        raise MailError("SMTP password: paste the password to store.")
    return secrets.set_secret(db, PASSWORD_SECRET, value, kind=PASSWORD_KIND, actor=user.email)


def configured(db: Database) -> bool:
    return bool(settings.get(db, "smtp_host").strip())


def send(
    db: Database,
    to: list[str],
    subject: str,
    text: str,
    *,
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] = (),
    timeout: float = 20.0,
) -> None:
    """Send one message. `attachments` are (file name, bytes, MIME type)."""
    conf = settings.get_all(db)
    host = conf["smtp_host"].strip()
    if not host:
        raise MailError("E-mail is not set up: fill smtp_host under Settings → General.")
    recipients = [t.strip() for t in to if t and t.strip()]
    if not recipients:
        raise MailError("No recipient address.")
    msg = smtp.message(
        conf["smtp_from"], recipients, subject, text, html=html, attachments=attachments
    )
    user = conf["smtp_username"].strip()
    password = secrets.get_by_kind(db, PASSWORD_KIND, PASSWORD_SECRET) if user else None
    if user and not password:
        raise MailError(
            "smtp_username is set but the secret store has no smtp.password; "
            "add it under Alerts → Delivery."
        )
    server = smtp.SmtpServer(
        host, int(conf["smtp_port"]), conf["smtp_security"], username=user, password=password
    )
    try:
        smtp.send(server, msg, timeout=timeout)
    except smtp.SmtpError as exc:
        raise MailError(str(exc)) from None
