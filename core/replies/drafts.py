"""Reply drafts: editable templates with merge fields, and optionally a draft from a language
model behind any OpenAI-compatible endpoint (`LEADOPS_LLM_URL`, model `LEADOPS_LLM_MODEL`, key
the newest credential of kind llm_key, e.g. `llm.api_key`). Drafts are never sent on their own:
staff edit and send.

Merge fields: {first_name} {last_name} {email} {client} {campaign} {sender_name} {sender_email}
{phone_hint} {reply_excerpt}, plain only: no format spec, conversion, attribute or index
(`{first_name:>300000000}` would render 300 MB through str.format). `{{` and `}}` are literal
braces. Templates are filled by `render`, which substitutes plain fields itself and never calls
str.format, so even a bad template already stored cannot blow up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import httpx
import polars as pl

from connectors.http import ApiError
from connectors.llm import ChatClient
from core.accounts import access
from core.platform import audit, secrets
from core.platform.scope import Scope
from core.platform.store import Database, fetch_one
from core.replies.inbox import ReplyActionError, conversation

MERGE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "client",
    "campaign",
    "sender_name",
    "sender_email",
    "phone_hint",
    "reply_excerpt",
)
LLM_KEY_NAME = "llm.api_key"  # the name it had before credentials were found by kind
LLM_KEY_KIND = "llm_key"
DEFAULT_MODEL = "gpt-4o-mini"
SYSTEM_PROMPT = (
    "You write short, friendly, plain-text email answers for a licensed independent home-insurance "
    "agency replying to homeowners who answered a cold email about their policy renewal. Never "
    "invent prices, carriers or promises. Ask for a good time to talk when they are interested, "
    "answer questions briefly, and close politely when they are not. Sign with the sender's name. "
    "Return only the email body."
)


def list_templates(db: Database) -> pl.DataFrame:
    return db.query("SELECT name, body, updated_at, updated_by FROM reply_templates ORDER BY name")


MAX_TEMPLATE_CHARS = 10_000
# a literal brace ({{ or }}), a {placeholder} (anything up to the next brace), or a lone brace
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_]\w*")


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "…"


def _not_plain(text: str, field: str) -> ReplyActionError:
    return ReplyActionError(
        f"Template: {_shown(text)} is not a plain merge field; write {{{field}}}"
        " (no format width, conversion, attribute or index)."
    )


def _parse(body: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, merge field or None) pieces; raises ReplyActionError on a
    placeholder that is not a plain known merge field, or on a brace that does not match."""
    pieces: list[tuple[str, str | None]] = []
    unknown: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(body):
        literal = body[pos : m.start()]
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            pieces.append((literal + token[0], None))
            continue
        if m.group(1) is None:  # a lone { or }, e.g. a nested {first_name:{email}}
            name = _NAME.match(body, m.end()) if token == "{" else None
            if name and name.group(0) in MERGE_FIELDS and "}" in body[name.end() :]:
                raise _not_plain(body[m.start() : m.start() + 40], name.group(0))
            raise ReplyActionError(
                f"Template: braces do not match near {_shown(body[m.start() : m.start() + 40])!r};"
                " write a merge field as {first_name}, a literal brace as {{ or }}."
            )
        field = m.group(1)
        if field in MERGE_FIELDS:
            pieces.append((literal, field))
            continue
        name = _NAME.match(field.strip())
        if name and name.group(0) in MERGE_FIELDS:
            raise _not_plain(token, name.group(0))
        unknown.append(_shown(token))
    if unknown:
        raise ReplyActionError(
            f"Template: unknown merge field(s) {', '.join(sorted(set(unknown)))}; "
            f"use {', '.join('{' + f + '}' for f in MERGE_FIELDS)}."
        )
    pieces.append((body[pos:], None))
    return pieces


def template_fields(body: str) -> list[str]:
    """Merge fields used in a template; raises ReplyActionError on unknown or malformed ones
    (only plain `{field}` is allowed)."""
    return [f for _, f in _parse(body) if f is not None]


def save_template(db: Database, user: access.User, name: str, body: str) -> None:
    access.require(user, "replies.manage")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ReplyActionError("Name: 1–80 characters.")
    if not (body or "").strip():
        raise ReplyActionError("Template: the body is empty.")
    if len(body) > MAX_TEMPLATE_CHARS:
        raise ReplyActionError(
            f"Template: at most {MAX_TEMPLATE_CHARS:,} characters (this one has {len(body):,})."
        )
    template_fields(body)
    with db.transaction() as cur:
        before = fetch_one(cur, "SELECT body FROM reply_templates WHERE name = ?", [name])
        cur.execute(
            "INSERT INTO reply_templates (name, body, updated_by) VALUES (?, ?, ?) ON CONFLICT (name)"
            " DO UPDATE SET body = excluded.body, updated_at = now(), updated_by = excluded.updated_by",
            [name, body, user.email],
        )
        audit.record(
            cur,
            actor=user.email,
            action="reply_template.replace" if before else "reply_template.add",
            entity="reply_template",
            entity_id=name,
            after={"chars": len(body)},
        )


def delete_template(db: Database, user: access.User, name: str) -> None:
    access.require(user, "replies.manage")
    with db.transaction() as cur:
        cur.execute("DELETE FROM reply_templates WHERE name = ?", [name])
        audit.record(
            cur,
            actor=user.email,
            action="reply_template.delete",
            entity="reply_template",
            entity_id=name,
        )


def merge_values(db: Database, scope: Scope, workspace_id: int, reply_id: int) -> dict[str, str]:
    conv = conversation(db, scope, workspace_id, reply_id)
    if not conv:
        raise ReplyActionError(f"No reply {reply_id} for this client.")
    r = conv["reply"]
    first, _, last = (r["from_name"] or "").strip().partition(" ")
    lead = db.query(
        "SELECT first_name, last_name FROM bison_leads WHERE workspace_id = ? AND id = ?",
        [workspace_id, r["lead_id"]],
    )
    if lead.height:
        first = lead["first_name"][0] or first
        last = lead["last_name"][0] or last
    excerpt = re.sub(r"\s+", " ", r["text_body"] or "").strip()
    return {
        "first_name": first or "there",
        "last_name": last or "",
        "email": r["from_email"] or "",
        "client": r["client"] or "",
        "campaign": r["campaign"] or "",
        "sender_name": (r["sender_name"] or "").strip() or r["client"] or "",
        "sender_email": r["sender_email"] or r["to_email"] or "",
        "phone_hint": "the number you have on file",
        "reply_excerpt": excerpt[:300],
    }


def render(body: str, values: dict[str, str]) -> str:
    """The template with its merge fields filled in. Only plain `{field}`s are substituted (never
    through str.format); a template with anything else is refused with a message naming it."""
    return "".join(
        literal + ("" if field is None else str(values.get(field) or ""))
        for literal, field in _parse(body)
    )


def draft_from_template(
    db: Database, scope: Scope, workspace_id: int, reply_id: int, template_name: str
) -> str:
    body = db.scalar("SELECT body FROM reply_templates WHERE name = ?", [template_name])
    if body is None:
        raise ReplyActionError(f"No template named {template_name!r}.")
    return render(body, merge_values(db, scope, workspace_id, reply_id))


def llm_configured() -> bool:
    return bool(os.environ.get("LEADOPS_LLM_URL", "").strip())


def draft_from_model(
    db: Database,
    scope: Scope,
    workspace_id: int,
    reply_id: int,
    *,
    instructions: str | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> str:
    """A draft from the configured OpenAI-compatible endpoint; raises ReplyActionError when it
    is not configured or does not answer."""
    url = os.environ.get("LEADOPS_LLM_URL", "").strip()
    if not url:
        raise ReplyActionError(
            "No language model configured: set LEADOPS_LLM_URL (an OpenAI-compatible base URL) and "
            "store its key under Settings → Credentials (kind Language model API key)."
        )
    conv = conversation(db, scope, workspace_id, reply_id)
    if not conv:
        raise ReplyActionError(f"No reply {reply_id} for this client.")
    values = merge_values(db, scope, workspace_id, reply_id)
    r = conv["reply"]
    original = conv["original"] or {}
    prompt = "\n".join(
        [
            f"Agency client: {values['client']}. Sender: {values['sender_name']}.",
            f"Our email (subject {original.get('email_subject') or r['subject']!r}):",
            (original.get("email_body") or "")[:1500],
            f"Their reply (classified {r['effective_category'] or 'unknown'}):",
            (r["text_body"] or "")[:2000],
            f"Extra instructions: {instructions}" if instructions else "",
        ]
    )
    kwargs: dict[str, Any] = {"transport": transport}
    if sleep is not None:
        kwargs["sleep"] = sleep
    client = ChatClient(
        url,
        secrets.get_by_kind(db, LLM_KEY_KIND, LLM_KEY_NAME),
        model=os.environ.get("LEADOPS_LLM_MODEL", "").strip() or DEFAULT_MODEL,
        **kwargs,
    )
    try:
        text = client.complete(SYSTEM_PROMPT, prompt)
    except ApiError as exc:
        raise ReplyActionError(f"The language model did not answer: {exc}") from None
    finally:
        client.close()
    if not text:
        raise ReplyActionError("The language model returned an empty draft.")
    return text
