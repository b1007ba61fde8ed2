"""Outgoing e-mail over SMTP (plain, STARTTLS or implicit TLS). Knows nothing of our store: the
caller passes the server and the credentials."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage


class SmtpError(RuntimeError):
    """The server did not take the message; the text says why (never the password)."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str = "starttls"  # "starttls", "ssl" or "none"
    username: str = ""
    password: str | None = None

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.host}:{self.port}, {self.security}, user={self.username!r})"


def message(
    sender: str,
    to: list[str],
    subject: str,
    text: str,
    *,
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """A message with a text part, an optional HTML alternative and (name, bytes, MIME) files."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for name, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def _open(server: SmtpServer, timeout: float) -> smtplib.SMTP:
    if server.security == "ssl":
        return smtplib.SMTP_SSL(
            server.host, server.port, timeout=timeout, context=ssl.create_default_context()
        )
    return smtplib.SMTP(server.host, server.port, timeout=timeout)


def check(server: SmtpServer, *, timeout: float = 10.0) -> str:
    """Connect, STARTTLS when asked, log in when there is a user, then NOOP: whether the server
    would take a message from us, without sending one. Returns what was done, in words."""
    where = f"{server.host}:{server.port}"
    try:
        with _open(server, timeout) as smtp:
            if server.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password or "")
            code, _ = smtp.noop()
            if code != 250:
                raise SmtpError(f"The SMTP server {where} answered NOOP with {code}.")
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpError(f"The SMTP server {where} refused the check: {exc}") from None
    return f"{where} answered" + (
        f" and accepted the login of {server.username}" if server.username else ""
    )


def send(server: SmtpServer, msg: EmailMessage, *, timeout: float = 20.0) -> None:
    where = f"{server.host}:{server.port}"
    try:
        with _open(server, timeout) as smtp:
            if server.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpError(f"The SMTP server {where} did not take the message: {exc}") from None
