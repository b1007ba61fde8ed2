"""Column-wise parsing of leads and replies gives, value for value, what the record parsers give.

The reference here builds the rows the way the sync used to: one `parse_lead` / `parse_reply`
record per item, then the table's columns from its attributes. Payloads are the fake's own plus
hostile variants of every field (ids as strings with commas, floats and booleans, statuses in
odd case with spaces, dates with offsets or a space or garbage, wrapped recipients, custom
variables as a dict, stats only at the top level, non-dict items in the list).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import polars as pl
import pytest

from connectors.bison import columns
from connectors.bison.parsers import parse_lead, parse_reply
from core.bison.mirror import LEAD_SCHEMA, REPLY_SCHEMA
from core.demo.sandbox import BisonFake
from core.demo.sandbox.views import ser_lead, ser_reply

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
WID = 7


def reference_leads(items: list[Any]) -> pl.DataFrame:
    recs = [parse_lead(i) for i in items if isinstance(i, dict)]
    rows = [
        {
            "workspace_id": WID,
            "id": r.id,
            "email": r.email,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "company": r.company,
            "status": r.status,
            "campaign_status": r.campaign_status,
            "emails_sent": r.emails_sent,
            "replies": r.replies,
            "custom_variables": json.dumps(
                r.custom_variables, separators=(",", ":"), ensure_ascii=False
            )
            if r.custom_variables
            else None,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "synced_at": NOW,
        }
        for r in recs
    ]
    return pl.DataFrame(rows, schema=LEAD_SCHEMA, orient="row")


def reference_replies(items: list[Any]) -> pl.DataFrame:
    recs = [parse_reply(i) for i in items if isinstance(i, dict)]
    rows = [
        {
            "workspace_id": WID,
            "id": r.id,
            "uuid": r.uuid,
            "campaign_id": r.campaign_id,
            "lead_id": r.lead_id,
            "sender_email_id": r.sender_email_id,
            "scheduled_email_id": r.scheduled_email_id,
            "folder": r.folder.capitalize() if r.folder else None,
            "subject": r.subject,
            "text_body": r.text_body,
            "from_name": r.from_name,
            "from_email": r.from_email,
            "to_email": r.to_email,
            "interested": r.interested,
            "automated_reply": r.automated_reply,
            "read": r.read,
            "type": r.type,
            "category": "interested"
            if r.interested
            else ("auto_reply" if r.automated_reply else None),
            "date_received": r.date_received or r.created_at or NOW,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "synced_at": NOW,
        }
        for r in recs
        if (r.folder or "").lower() != "sent"
    ]
    return pl.DataFrame(rows, schema=REPLY_SCHEMA, orient="row")


@pytest.fixture(scope="module")
def fake_items() -> tuple[list[dict], list[dict]]:
    fake = BisonFake(seed=5, workspaces=1, campaigns_per_ws=6, leads_per_ws=400, replies_per_ws=300)
    ws = fake.workspace(fake.workspace_ids[0])
    leads = [ser_lead(ws, lead) for lead in ws.leads.values()]
    replies = [ser_reply(r) for r in ws.replies.values()]
    return leads, replies


ODD_INTS = ["1,234", "17", " 42 ", "12.0", 3.0, True, False, None, "", "n/a", float("nan")]
ODD_BOOLS = ["Yes", "no", "1", "0", 1, 0, None, "", "maybe", "TRUE", 2.5]
ODD_DATES = [
    "2025-04-14T16:59:21.000000Z",
    "2025-04-14T16:59:21Z",
    "2025-04-14 16:59:21",
    "2025-04-14T16:59:21+02:00",
    "2025-04-14",
    " 2025-04-14T16:59:21.5Z ",
    "yesterday",
    "",
    None,
    "2025-04-14T16:59:21.123456789Z",
]
ODD_STRS = ["Active", "  PAUSED ", None, 12, 3.5, "", "Ünïcode"]


def hostile(items: list[dict], fields: dict[str, list[Any]], seed: int) -> list[Any]:
    rng = random.Random(seed)
    out: list[Any] = []
    for item in items:
        item = dict(item)
        for key, choices in fields.items():
            if rng.random() < 0.35:
                item[key] = rng.choice(choices)
        out.append(item)
    out[3:3] = ["not a dict", None, 17]
    return out


def test_leads_match_the_record_parser(fake_items) -> None:
    leads = hostile(
        fake_items[0],
        {
            "id": ODD_INTS[:4] + [5.0],
            "email": ["  Mixed@Case.Example ", None, 42],
            "first_name": ODD_STRS,
            "company": ODD_STRS,
            "status": ODD_STRS,
            "created_at": ODD_DATES,
            "updated_at": ODD_DATES,
            "custom_variables": [
                {"zip": "75201", "n": 3},
                [],
                [{"name": None, "value": "x"}, {"name": "a", "value": 1}, "junk"],
                "junk",
                None,
            ],
            "lead_campaign_data": [
                None,
                [],
                ["junk", {"campaign_id": "9", "status": " Replied "}],
                [{"status": None}],
            ],
            "overall_stats": [None, "junk", {"emails_sent": "1,000", "replies": 0}, {}],
            "emails_sent": ODD_INTS,
            "replies": ODD_INTS,
        },
        seed=1,
    )
    got = columns.lead_frame(iter(leads), workspace_id=WID, synced_at=NOW)
    want = reference_leads(leads)
    assert got.schema == want.schema == pl.Schema(LEAD_SCHEMA)
    assert got.height == len(fake_items[0])
    assert got.equals(want)


def test_replies_match_the_record_parser(fake_items) -> None:
    replies = hostile(
        fake_items[1],
        {
            "id": ODD_INTS[:4],
            "campaign_id": ODD_INTS,
            "lead_id": ODD_INTS,
            "folder": ["Inbox", "SENT", " sent ", "Spam", None, 3],
            "subject": ODD_STRS,
            "email_subject": ODD_STRS,
            "interested": ODD_BOOLS,
            "automated_reply": ODD_BOOLS,
            "read": ODD_BOOLS,
            "date_received": ODD_DATES,
            "created_at": ODD_DATES,
            "updated_at": ODD_DATES,
            "from_email_address": [None, "a@b.example", 5],
            "primary_to_email_address": [None, None, "to@x.example"],
            "to": [None, [], ["x"], [{"email_address": "e@x.example"}], [{"address": None}]],
        },
        seed=2,
    )
    got = columns.reply_frame(iter(replies), workspace_id=WID, synced_at=NOW)
    want = reference_replies(replies)
    assert got.schema == want.schema == pl.Schema(REPLY_SCHEMA)
    assert 0 < got.height < len(fake_items[1])  # the Sent folder is left out
    assert got.equals(want)


def test_plain_payloads_take_the_fast_path_and_empty_lists_work(fake_items) -> None:
    leads, replies = fake_items
    assert columns.lead_frame(leads, workspace_id=WID, synced_at=NOW).equals(reference_leads(leads))
    assert columns.reply_frame(replies, workspace_id=WID, synced_at=NOW).equals(
        reference_replies(replies)
    )
    empty = columns.lead_frame([], workspace_id=WID, synced_at=NOW)
    assert empty.height == 0 and empty.schema == pl.Schema(LEAD_SCHEMA)
    assert columns.reply_frame([], workspace_id=WID, synced_at=NOW).height == 0
    assert columns.ints([1, 2, None]) == [1, 2, 0]
    assert columns.ints([1, "2,000", None], None) == [1, 2000, None]
    assert columns.bools([True, None, "yes"]) == [True, False, True]
