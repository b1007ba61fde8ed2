"""Email Bison webhook payloads: reading the envelope and applying events to the mirror tables.

The receiver (`core/bison/receiver.py`) uses `parse_envelope` and `event_id_for` to accept or refuse a
body; `ingest` uses them again on the stored files and calls `apply_event` inside its transaction.

What the payloads are taken to look like (EMAIL_BISON_API.md §13; where the reference is not
sure, every documented variant is accepted):

* Envelope: ``{"event": {"type": "LEAD_REPLIED", "name": "Lead Replied", "workspace_id": 1,
  "workspace_name": ..., "instance_url": ...}, "data": {...}}``. The type is compared
  case-insensitively and normalised to lower snake case (``lead_replied``). Also accepted: the
  ``event.name`` ("Lead Replied", "Contact Replied") when there is no type, ``event`` given as a
  plain string, and a top-level ``event_type`` / ``type``. The UI names "Contact …" map to the
  ``lead_*`` ids. ``data`` must be a JSON object.
* Workspace: ``event.workspace_id``, else ``event.team_id``, top-level ``workspace_id`` or
  ``team_id``; an integer or a numeric string.
* Idempotency: Email Bison documents no event id. When a payload carries ``event_id`` (top level
  or in ``event``) or ``event.uuid``, that is the key. ``event.id`` is deliberately not used: in
  Bison's own listings the ``id`` of an event is its type name, which would fold every event of a
  type into one. Otherwise the key is the SHA-256 of the payload in canonical JSON (sorted keys,
  no whitespace), so the same event redelivered with different formatting is still one event.
  Such a key cannot tell a redelivery from a genuine repeat with the same body (a reply marked
  interested, not interested, then interested again), so for events that set a state another
  event sets back (`state_subject`) ingest counts an identical body as a repeat when an event of
  the other kind about the same reply, lead or sender was received in between.
* ``data`` objects: ``reply`` carries the REST reply fields (§9.1), sometimes ``email_subject``
  for ``subject``, ``from_email`` for ``from_email_address``, ids as strings; ``lead``,
  ``campaign``, ``sender_email`` and ``scheduled_email`` carry at least an ``id``. Timestamps are
  ISO 8601 (``2024-09-21T02:10:42.000000Z``) or epoch seconds.

What each event does to the mirror (our workspace, Bison ids):

* ``lead_replied``, ``untracked_reply_received``: upsert the reply into bison_replies. Fields the
  payload lacks keep their stored value; ``interested`` is only ever raised here (a reply payload
  built before the reply was marked interested must not undo a later mark). As in the sync, the
  folder is capitalised, outgoing ``Sent`` mail is not mirrored, and ``category`` follows the
  flags (``interested`` / ``auto_reply``) unless it holds another classification.
* ``lead_interested``: set the reply's ``interested``; insert the reply when it is unknown and the
  payload carries it. Without a reply id, the lead's newest inbound reply (in the payload's
  campaign, when given) is marked. ``lead_not_interested`` / ``lead_uninterested`` (not in the
  documented list of 17, accepted in case they appear) clear the flag the same way.
* ``email_bounced`` / ``lead_unsubscribed``: bison_leads.status becomes ``bounced`` /
  ``unsubscribed`` (the lead is inserted when unknown and the payload has its email). Campaign
  counters are left to the sync.
* ``email_account_disconnected`` / ``_reconnected``: bison_sender_emails.status becomes
  ``disconnected`` / ``connected``, unless the stored row is newer than the payload's
  ``updated_at``. ``email_account_added`` inserts an unknown sender.
* Every other type (``email_sent``, ``email_opened``, tags, warmup, …) is stored and changes
  nothing; the periodic sync owns counters and everything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from core.bison import mirror

REPLY_EVENTS = frozenset({"lead_replied", "untracked_reply_received"})
INTERESTED_EVENTS = {"lead_interested": True, "lead_not_interested": False}
LEAD_STATUS_EVENTS = {"email_bounced": "bounced", "lead_unsubscribed": "unsubscribed"}
SENDER_STATUS_EVENTS = {
    "email_account_disconnected": "disconnected",
    "email_account_reconnected": "connected",
}
_ALIASES = {
    "contact_replied": "lead_replied",
    "contact_interested": "lead_interested",
    "contact_unsubscribed": "lead_unsubscribed",
    "contact_first_emailed": "lead_first_contacted",
    "lead_uninterested": "lead_not_interested",
    "contact_not_interested": "lead_not_interested",
}
_MAX_ID_LEN = 200


class PayloadError(ValueError):
    """A body or event file that is not a usable webhook event; the message says why."""


@dataclass(frozen=True)
class Envelope:
    event_type: str
    bison_workspace_id: int | None
    data: dict[str, Any]


# -- reading the envelope ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def loads_strict(text: str | bytes) -> Any:
    """`json.loads` that refuses what DuckDB's JSON type would refuse later: NaN, Infinity and
    unpaired UTF-16 surrogates (``"\\ud800"``). Raises ValueError."""
    value = json.loads(text, parse_constant=_reject_constant)
    try:
        canonical_json(value)
    except UnicodeEncodeError:
        raise ValueError("a string holds an unpaired UTF-16 surrogate") from None
    return value


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _normal_type(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    name = re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")
    return _ALIASES.get(name, name) or None


def parse_envelope(payload: Any) -> Envelope:
    """The event type, Bison workspace id and data of a webhook body; PayloadError if unusable."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object with 'event' and 'data'")
    event = payload.get("event")
    head = event if isinstance(event, dict) else {}
    event_type = (
        _normal_type(head.get("type"))
        or _normal_type(head.get("name"))
        or _normal_type(event if isinstance(event, str) else None)
        or _normal_type(payload.get("event_type"))
        or _normal_type(payload.get("type"))
    )
    if event_type is None:
        raise PayloadError("no event type: expected 'event': {'type': 'LEAD_REPLIED', ...}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise PayloadError("'data' must be a JSON object")
    workspace = None
    for source, key in (
        (head, "workspace_id"),
        (head, "team_id"),
        (payload, "workspace_id"),
        (payload, "team_id"),
    ):
        workspace = as_int(source.get(key))
        if workspace is not None:
            break
    return Envelope(event_type, workspace, data)


def own_event_id(payload: dict[str, Any]) -> str | None:
    event = payload.get("event")
    head = event if isinstance(event, dict) else {}
    for value in (payload.get("event_id"), head.get("event_id"), head.get("uuid")):
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        text = str(value).strip()
        if text and len(text) <= _MAX_ID_LEN:
            return text
    return None


# Events that set a state another event can set back: family -> its event types.
STATE_FAMILIES = {
    "interest": tuple(INTERESTED_EVENTS),
    "sender_status": tuple(SENDER_STATUS_EVENTS),
}


def state_subject(env: Envelope) -> tuple[tuple[str, ...], list[tuple[str, str]]] | None:
    """For an event that sets a state another event sets back: the event types of its family and
    what it is about, as (JSON path in the payload, id) pairs, any of which may match. None for
    every other event."""
    data = env.data
    if env.event_type in INTERESTED_EVENTS:
        subjects = [
            ("$.data.reply.id", as_int(_obj(data, "reply").get("id"))),
            ("$.data.lead.id", as_int(_obj(data, "lead").get("id"))),
        ]
        family = STATE_FAMILIES["interest"]
    elif env.event_type in SENDER_STATUS_EVENTS:
        subjects = [("$.data.sender_email.id", as_int(_obj(data, "sender_email").get("id")))]
        family = STATE_FAMILIES["sender_status"]
    else:
        return None
    found = [(path, str(value)) for path, value in subjects if value is not None]
    return (family, found) if found else None


def event_id_for(payload: dict[str, Any]) -> str:
    """The idempotency key: the event's own id, else the SHA-256 of its canonical JSON."""
    return own_event_id(payload) or hashlib.sha256(canonical_json(payload)).hexdigest()


# -- loose field readers -----------------------------------------------------------------------


def as_int(value: Any) -> int | None:
    """An integer id from an int, an integral float or a numeric string; None if not (or if it
    does not fit in BIGINT)."""
    if isinstance(value, bool) or value is None:
        return None
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,19}\s*", value):
        number = int(value)
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def as_timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str) and value.strip():
            ts = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text.strip() else None


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _text_body(reply: dict[str, Any]) -> str | None:
    text = _str(reply.get("text_body"))
    if text is None and _str(reply.get("html_body")):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", reply["html_body"])).strip() or None
    return text


# -- applying events ---------------------------------------------------------------------------


def reply_row(env: Envelope, received_at: dt.datetime) -> dict[str, Any]:
    """The bison_replies columns a payload's reply gives (None where the payload is silent)."""
    data = env.data
    reply, lead = _obj(data, "reply"), _obj(data, "lead")
    sender, scheduled = _obj(data, "sender_email"), _obj(data, "scheduled_email")
    reply_id = as_int(reply.get("id"))
    if reply_id is None:
        raise PayloadError(f"{env.event_type}: the payload has no reply id")
    to = reply.get("to")
    first_to = to[0] if isinstance(to, list) and to and isinstance(to[0], dict) else {}
    return {
        "id": reply_id,
        "uuid": _str(reply.get("uuid")),
        "campaign_id": as_int(reply.get("campaign_id")) or as_int(_obj(data, "campaign").get("id")),
        "lead_id": as_int(reply.get("lead_id")) or as_int(lead.get("id")),
        "sender_email_id": as_int(reply.get("sender_email_id")) or as_int(sender.get("id")),
        "scheduled_email_id": as_int(reply.get("scheduled_email_id"))
        or as_int(scheduled.get("id")),
        "folder": (_str(reply.get("folder")) or "").capitalize() or None,  # as the sync does
        "subject": _str(reply.get("subject")) or _str(reply.get("email_subject")),
        "text_body": _text_body(reply),
        "from_name": _str(reply.get("from_name")),
        "from_email": _str(reply.get("from_email_address"))
        or _str(reply.get("from_email"))
        or _str(lead.get("email")),
        "to_email": _str(reply.get("primary_to_email_address"))
        or _str(reply.get("to_email"))
        or _str(first_to.get("address"))
        or _str(first_to.get("email_address"))
        or _str(sender.get("email")),
        "interested": _bool(reply.get("interested")),
        "automated_reply": _bool(reply.get("automated_reply")),
        "read": _bool(reply.get("read")),
        "type": _str(reply.get("type")),
        "date_received": as_timestamp(reply.get("date_received"))
        or as_timestamp(reply.get("created_at"))
        or as_timestamp(_obj(data, "campaign_event").get("created_at"))
        or received_at,
        "created_at": as_timestamp(reply.get("created_at")),
        "updated_at": as_timestamp(reply.get("updated_at")),
    }


def reply_frame(workspace_id: int, row: dict[str, Any]) -> pl.DataFrame:
    """One payload reply as a typed `bison_replies` frame (only the columns it gives)."""
    values = {"workspace_id": workspace_id, **row}
    schema = {c: mirror.REPLY_SCHEMA[c] for c in values}
    return pl.DataFrame([values], schema=schema, orient="row")


def _apply_reply(cur, workspace_id: int, env: Envelope, received_at: dt.datetime) -> None:
    row = reply_row(env, received_at)
    if row["folder"] == "Sent":  # our own outgoing mail; the mirror keeps inbound replies only
        return
    # a reply-received event is not Email Bison's word on interest: it only ever adds the flag
    row = {**row, "synced_at": None}
    mirror.upsert_replies(cur, reply_frame(workspace_id, row), interested=mirror.INTERESTED_STICKY)


def _apply_interested(
    cur, workspace_id: int, env: Envelope, received_at: dt.datetime, value: bool
) -> str | None:
    reply = _obj(env.data, "reply")
    if as_int(reply.get("id")) is not None:
        row = {**reply_row(env, received_at), "interested": value, "synced_at": None}
        mirror.upsert_replies(
            cur, reply_frame(workspace_id, row), interested=mirror.INTERESTED_SOURCE
        )
        return None
    lead_id = as_int(_obj(env.data, "lead").get("id"))
    if lead_id is None:
        raise PayloadError(f"{env.event_type}: the payload has neither a reply id nor a lead id")
    campaign_id = as_int(_obj(env.data, "campaign").get("id"))
    if not mirror.set_lead_replies_interested(cur, workspace_id, lead_id, campaign_id, value):
        return f"{env.event_type}: lead {lead_id} has no reply in the mirror yet"
    return None


def _apply_lead_status(cur, workspace_id: int, env: Envelope, status: str) -> str | None:
    lead = _obj(env.data, "lead")
    lead_id = (
        as_int(lead.get("id"))
        or as_int(_obj(env.data, "reply").get("lead_id"))
        or as_int(_obj(env.data, "scheduled_email").get("lead_id"))
    )
    if lead_id is None:
        raise PayloadError(f"{env.event_type}: the payload has no lead id")
    fields = {k: _str(lead.get(k)) for k in ("email", "first_name", "last_name", "company")}
    if not mirror.set_lead_status(cur, workspace_id, lead_id, status, fields):
        return f"{env.event_type}: lead {lead_id} is not in the mirror yet"
    return None


def _apply_sender(cur, workspace_id: int, env: Envelope, status: str | None) -> str | None:
    sender = _obj(env.data, "sender_email")
    sender_id = as_int(sender.get("id"))
    if sender_id is None:
        raise PayloadError(f"{env.event_type}: the payload has no sender_email id")
    status = status or (_str(sender.get("status")) or "connected").lower()
    record = {
        "id": sender_id,
        "email": _str(sender.get("email")),
        "name": _str(sender.get("name")),
        "type": _str(sender.get("type")),
        "daily_limit": as_int(sender.get("daily_limit")),
        "created_at": as_timestamp(sender.get("created_at")),
        "updated_at": as_timestamp(sender.get("updated_at")),
    }
    changes = env.event_type in SENDER_STATUS_EVENTS
    if not mirror.apply_sender_event(
        cur, workspace_id, record, status=status, changes_status=changes
    ):
        return f"{env.event_type}: sender email {sender_id} is not in the mirror yet"
    return None


def apply_event(
    cur: duckdb.DuckDBPyConnection, workspace_id: int, env: Envelope, received_at: dt.datetime
) -> str | None:
    """Apply one event to the mirror inside the caller's transaction.

    Returns None when applied (or when the type changes nothing), else why it could not be.
    Raises PayloadError, before writing anything, when the payload lacks what the type needs.
    """
    kind = env.event_type
    if kind in REPLY_EVENTS:
        _apply_reply(cur, workspace_id, env, received_at)
    elif kind in INTERESTED_EVENTS:
        return _apply_interested(cur, workspace_id, env, received_at, INTERESTED_EVENTS[kind])
    elif kind in LEAD_STATUS_EVENTS:
        return _apply_lead_status(cur, workspace_id, env, LEAD_STATUS_EVENTS[kind])
    elif kind in SENDER_STATUS_EVENTS:
        return _apply_sender(cur, workspace_id, env, SENDER_STATUS_EVENTS[kind])
    elif kind == "email_account_added":
        return _apply_sender(cur, workspace_id, env, None)
    return None
