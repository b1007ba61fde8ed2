"""State of the simulated Email Bison instance: plain objects, filled on first use.

A workspace is either *generated* (tests and benchmarks: synthetic data from a seed, whose ids
encode their workspace, ``id // STRIDE``, so ownership checks are O(1) and ids do not depend on
the order workspaces are first touched) or *added* with a loader (the demo sandbox: the data
comes from the demo database, ids as they are there, new ids from one counter shared by every
added workspace). Leads and replies are slotted objects (a benchmark-size instance holds ~300k
of them) and are turned into API dicts only for the page being served.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

CAMPAIGN_STRIDE = 100_000
LEAD_STRIDE = 10_000_000
REPLY_STRIDE = 10_000_000
SENDER_STRIDE = 100_000
TAG_STRIDE = 10_000
SCHEDULED_STRIDE = 10_000
STRIDES = {"campaigns": CAMPAIGN_STRIDE, "leads": LEAD_STRIDE, "replies": REPLY_STRIDE}
DAY = 86_400.0
# the series of a day: the keys of `BisonState.daily` (and of a loaded workspace's `daily_seed`)
DAILY_KEYS = (
    "sent",
    "replied",
    "total_opens",
    "unique_opens",
    "bounced",
    "unsubscribed",
    "interested",
)

FIRST = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin".split()
DOMAINS = ["example.com", "example.net", "example.org", "homes.example.us"]
LEAD_STATUSES = ["verified"] * 6 + ["unverified", "risky", "unknown", "bounced"]
CAMPAIGN_STATUS_CYCLE = ["Active", "Paused", "Active", "Completed", "Draft", "Active", "Stopped"]
LEAD_CAMPAIGN_STATUSES = ["in_sequence", "in_sequence", "sequence_finished", "replied"]
DEFAULT_TAGS = [
    "Interested",
    "Meeting Booked",
    "Google",
    "Outlook",
    "Zoho",
    "Custom Mail Server",
    "Proofpoint",
    "Mimecast",
    "Barracuda",
    "Automated Reply",
]
PERSONAL_DOMAINS = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com"}
SUBJECTS = [
    "{FIRST_NAME}, your home insurance renews soon",
    "Quick question about your policy",
    "Still comparing quotes?",
    "Last note on your renewal",
]
REPLY_TEXTS = [
    ("Yes, please send me a quote.", True),
    ("What would it cost for my house?", True),
    ("Please call me tomorrow afternoon.", True),
    ("Not interested, please remove me.", False),
    ("I'm out of the office until Monday.", False),
    ("Already have coverage, thanks.", False),
]


def iso(ts: float | None) -> str | None:
    """Epoch seconds → ``2025-04-14T16:59:21.000000Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def secret_for(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:40]


def mix(*values: int) -> int:
    """Cheap deterministic 32-bit hash of a few ints."""
    h = 2166136261
    for v in values:
        h = ((h ^ (v & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
        h ^= h >> 13
    return h


@dataclass(slots=True)
class FakeLead:
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    status: str
    created: float
    updated: float
    title: str | None = None
    company: str | None = None
    notes: str | None = None
    variables: dict[str, str] | None = None
    campaigns: list[dict[str, Any]] | None = None
    tag_ids: list[int] | None = None
    emails_sent: int = 0
    opens: int = 0
    replies: int = 0


@dataclass(slots=True)
class FakeReply:
    id: int
    campaign_id: int | None
    lead_id: int | None
    sender_email_id: int | None
    folder: str
    type: str
    subject: str
    text: str
    from_name: str
    from_email: str
    to_email: str
    received: float
    updated: float
    interested: bool = False
    automated: bool = False
    read: bool = False
    parent_id: int | None = None
    scheduled_email_id: int | None = None
    campaign_id_as_string: bool = False
    uuid: str | None = None  # None: made from the id


@dataclass
class FakeWorkspace:
    id: int
    name: str
    token: str
    created: float
    loaded: bool = False
    version: int = 0
    campaigns: dict[int, dict[str, Any]] = field(default_factory=dict)
    sequences: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    campaign_senders: dict[int, list[int]] = field(default_factory=dict)
    leads: dict[int, FakeLead] = field(default_factory=dict)
    lead_ids_by_email: dict[str, int] = field(default_factory=dict)
    replies: dict[int, FakeReply] = field(default_factory=dict)
    tags: dict[int, dict[str, Any]] = field(default_factory=dict)
    senders: dict[int, dict[str, Any]] = field(default_factory=dict)
    scheduled: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    schedules: dict[int, dict[str, Any] | None] = field(default_factory=dict)  # None: none set
    daily_overlay: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    views: dict[Any, tuple[int, list[Any]]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    # An added workspace: `loader` fills it on first use (instead of generating it), its ids
    # follow no stride, and its per-day series come from `daily_seed` ((campaign id, day
    # ordinal) -> DAILY_KEYS counts) and `step_seed` ((campaign id, day ordinal) -> step id ->
    # sent, unique_opens, unique_replies, interested, bounced, unsubscribed).
    loader: Callable[[FakeWorkspace], None] | None = None
    strided: bool = True
    daily_seed: dict[tuple[int, int], dict[str, int]] | None = None
    step_seed: dict[tuple[int, int], dict[int, dict[str, int]]] | None = None

    def touch(self) -> None:
        """Invalidate cached list views after a mutation."""
        self.version += 1

    def view(self, key: Any, build: Any) -> list[Any]:
        cached = self.views.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        items = build()
        self.views[key] = (self.version, items)
        return items

    def new_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value


class BisonState:
    """All workspaces of one fake instance; generated lazily per workspace."""

    def __init__(
        self,
        *,
        seed: int,
        workspaces: int,
        campaigns_per_ws: int,
        leads_per_ws: int,
        replies_per_ws: int,
        senders_per_ws: int,
        steps_per_campaign: int,
        variants_per_step: int,
        scheduled_per_campaign: int,
        custom_tags_per_ws: int,
        now: datetime,
    ) -> None:
        self.seed = seed
        self.sizes = {
            "campaigns": campaigns_per_ws,
            "leads": leads_per_ws,
            "replies": replies_per_ws,
            "senders": senders_per_ws,
            "steps": max(1, steps_per_campaign),
            "variants": max(1, variants_per_step),
            "scheduled": scheduled_per_campaign,
            "tags": custom_tags_per_ws,
        }
        self.now = now.timestamp()
        self.today = now.date()
        self.super_admin_token = f"1|{secret_for(seed, 'super-admin')}"
        self.workspaces: dict[int, FakeWorkspace] = {}
        self.tokens: dict[str, tuple[int | None, bool]] = {self.super_admin_token: (None, True)}
        for w in range(1, workspaces + 1):
            token = f"{100 + w}|{secret_for(seed, 'workspace', w)}"
            name = f"{LAST[(w - 1) % len(LAST)]} Insurance Agency" + (
                f" {w}" if w > len(LAST) else ""
            )
            self.workspaces[w] = FakeWorkspace(
                id=w, name=name, token=token, created=self.now - 400 * DAY + w * 3600
            )
            self.tokens[token] = (w, False)
        self.current_workspace_id = 1
        self.next_token_id = 1000
        # next ids of added workspaces, shared by all of them (ids are instance-wide)
        self.shared_ids: dict[str, int] = {}
        # the token a workspace is minted (None: a new random one each time)
        self.token_factory: Callable[[int], str] | None = None

    # -- access ------------------------------------------------------------------

    def ws(self, workspace_id: int) -> FakeWorkspace | None:
        ws = self.workspaces.get(workspace_id)
        if ws is not None and not ws.loaded:
            if ws.loader is not None:
                ws.loader(ws)
                ws.loaded = True
                ws.touch()
            else:
                self._generate(ws)
        return ws

    def add_workspace(
        self,
        workspace_id: int,
        name: str,
        loader: Callable[[FakeWorkspace], None],
        *,
        created: float | None = None,
    ) -> FakeWorkspace:
        """A workspace whose data `loader` provides on first use (its ids as the loader gives
        them; new records take ids from `shared_ids`). It has no token until one is minted or
        registered."""
        ws = FakeWorkspace(
            id=workspace_id,
            name=name,
            token="",
            created=self.now if created is None else created,
            loader=loader,
            strided=False,
        )
        ws.next_ids = self.shared_ids
        self.workspaces[workspace_id] = ws
        if self.current_workspace_id not in self.workspaces:
            self.current_workspace_id = workspace_id
        return ws

    def register_token(self, token: str, workspace_id: int) -> None:
        """Accept `token` as an api-user token of the workspace."""
        self.tokens[token] = (workspace_id, False)

    def owner(self, kind: str, record_id: int) -> FakeWorkspace | None:
        """The workspace holding a campaign, lead or reply (`kind` names the collection): found
        from the id for generated workspaces, looked up in the loaded added ones."""
        ws = self.workspaces.get(record_id // STRIDES[kind])
        if ws is not None and ws.strided:
            ws = self.ws(ws.id)
            if ws is not None and record_id in getattr(ws, kind):
                return ws
        for other in self.workspaces.values():
            if not other.strided and other.loaded and record_id in getattr(other, kind):
                return other
        return None

    def mint_token(self, workspace_id: int) -> tuple[int, str]:
        self.next_token_id += 1
        if self.token_factory is not None:
            token = self.token_factory(workspace_id)
        else:
            token = f"{self.next_token_id}|{secret_for(self.seed, 'minted', self.next_token_id)}"
        self.tokens[token] = (workspace_id, False)
        return self.next_token_id, token

    # -- generation --------------------------------------------------------------

    def _generate(self, ws: FakeWorkspace) -> None:
        rng = random.Random(f"{self.seed}:{ws.id}")
        s = self.sizes
        ws.next_ids = {
            "campaign": ws.id * CAMPAIGN_STRIDE + s["campaigns"] + 1,
            "lead": ws.id * LEAD_STRIDE + s["leads"] + 1,
            "reply": ws.id * REPLY_STRIDE + s["replies"] + 1,
            "tag": ws.id * TAG_STRIDE + len(DEFAULT_TAGS) + s["tags"] + 1,
        }
        for i, name in enumerate(
            DEFAULT_TAGS + [f"Renewals batch {k + 1}" for k in range(s["tags"])]
        ):
            tid = ws.id * TAG_STRIDE + i + 1
            ws.tags[tid] = {
                "id": tid,
                "name": name,
                "default": i < len(DEFAULT_TAGS),
                "created": ws.created,
                "updated": ws.created,
            }
        self._generate_senders(ws, rng)
        for i in range(s["campaigns"]):
            self._generate_campaign(ws, i, rng)
        self._generate_leads(ws, rng)
        self._generate_replies(ws, rng)
        ws.loaded = True

    def _generate_senders(self, ws: FakeWorkspace, rng: random.Random) -> None:
        google, outlook = ws.id * TAG_STRIDE + 3, ws.id * TAG_STRIDE + 4
        for k in range(self.sizes["senders"]):
            sid = ws.id * SENDER_STRIDE + k + 1
            first, last = FIRST[(k + ws.id) % len(FIRST)], LAST[(k * 3) % len(LAST)]
            sent = rng.randint(200, 9000)
            status = "Disconnected" if k % 7 == 6 else "Connected"
            ws.senders[sid] = {
                "id": sid,
                "name": f"{first} {last}",
                "email": f"{first}.{last}{k}@outreach{ws.id}-mail.com".lower(),
                "email_signature": f"<p>{first} {last} | Home insurance</p>",
                "imap_server": "imap.outreach.example",
                "imap_port": 993,
                "smtp_server": "smtp.outreach.example",
                "smtp_port": 587,
                "daily_limit": str(30) if k % 4 == 3 else 30,
                "type": "Inbox",
                "status": status.lower() if k % 5 == 4 else status,
                "warmup_enabled": k % 3 != 2,
                "emails_sent_count": sent,
                "total_replied_count": sent // 40,
                "total_opened_count": sent // 4,
                "unsubscribed_count": sent // 500,
                "bounced_count": sent // 90,
                "unique_replied_count": sent // 50,
                "unique_opened_count": sent // 5,
                "total_leads_contacted_count": sent // 2,
                "interested_leads_count": sent // 200,
                "tag_ids": [google if k % 2 == 0 else outlook],
                "created": ws.created + k * 60,
                "updated": ws.created + k * 60,
            }

    def _generate_campaign(self, ws: FakeWorkspace, i: int, rng: random.Random) -> None:
        cid = ws.id * CAMPAIGN_STRIDE + i + 1
        status = CAMPAIGN_STATUS_CYCLE[i % len(CAMPAIGN_STATUS_CYCLE)]
        draft = status == "Draft"
        total_leads = 0 if draft else rng.randint(300, 3000)
        sent = 0 if draft else int(total_leads * rng.uniform(1.2, 2.8))
        replied = sent // rng.randint(30, 60) if sent else 0
        created = self.now - rng.uniform(30, 200) * DAY
        campaign = {
            "id": cid,
            "uuid": str(uuid.UUID(int=cid)),
            "name": f"{ws.name} — {['Evergreen', 'Renewals', 'Follow-up', 'Reactivation'][i % 4]} {i + 1}",
            "type": "outbound",
            "status": status.lower() if i % 4 == 3 else status,
            "completion_percentage": round(rng.uniform(0, 100), 2),
            "emails_sent": sent,
            "opened": sent // 3,
            "unique_opens": sent // 4,
            "replied": replied,
            "unique_replies": replied * 9 // 10,
            "bounced": sent // 80,
            "unsubscribed": sent // 300,
            "interested": replied // 3,
            "total_leads_contacted": min(total_leads, sent // 2),
            "total_leads": total_leads,
            "max_emails_per_day": 1000,
            "max_new_leads_per_day": 100,
            "plain_text": True,
            "open_tracking": i % 2 == 0,
            "can_unsubscribe": True,
            "unsubscribe_text": "Unsubscribe here",
            "sequence_id": None if draft else cid,
            "tag_ids": [],
            "strings": i % 3 == 2,  # this campaign sends some counters as strings
            "created": created,
            "updated": created + rng.uniform(0, self.now - created),
        }
        ws.campaigns[cid] = campaign
        ws.campaign_senders[cid] = [
            sid for sid, s in ws.senders.items() if str(s["status"]).lower() == "connected"
        ]
        if not draft:
            ws.sequences[cid] = self._steps(cid, legacy=cid % 4 == 0)

    def _steps(self, sequence_id: int, legacy: bool) -> list[dict[str, Any]]:
        steps = []
        waits = [1, 9, 10, 7, 7]
        for k in range(self.sizes["steps"]):
            order = k + 1
            base_id = sequence_id * 100 + k * 10
            for v in range(self.sizes["variants"]):
                step = {
                    "id": base_id + v,
                    "email_subject": SUBJECTS[(k + v) % len(SUBJECTS)],
                    "order": str(order) if legacy else order,
                    "email_body": f"<p>Hi {{FIRST_NAME}}, step {order} variant {v + 1}.</p>",
                    "wait_in_days": waits[k % len(waits)],
                    "variant": v > 0,
                    "attachments": [] if v % 2 == 0 else None,
                    "thread_reply": k > 0,
                    "active": True,
                }
                if legacy:
                    step["variant_from_step"] = order if v > 0 else None
                else:
                    step["variant_from_step_id"] = base_id if v > 0 else None
                steps.append(step)
        return steps

    def _generate_leads(self, ws: FakeWorkspace, rng: random.Random) -> None:
        campaign_ids = [c for c, v in ws.campaigns.items() if v["sequence_id"] is not None]
        custom_tags = [t for t, v in ws.tags.items() if not v["default"]]
        base = ws.id * LEAD_STRIDE
        now = self.now
        for i in range(self.sizes["leads"]):
            lid = base + i + 1
            first, last = FIRST[rng.randrange(20)], LAST[rng.randrange(20)]
            created = now - rng.uniform(1, 200) * DAY
            campaigns = None
            sent = 0
            if campaign_ids and i % 5 != 4:
                sent = rng.randint(0, 3)
                campaigns = [
                    {
                        "campaign_id": campaign_ids[i % len(campaign_ids)],
                        "status": LEAD_CAMPAIGN_STATUSES[i % len(LEAD_CAMPAIGN_STATUSES)],
                        "emails_sent": sent,
                        "replies": 0,
                        "opens": 0,
                        "interested": False,
                    }
                ]
            lead = FakeLead(
                id=lid,
                email=f"{first}.{last}.{i}@{DOMAINS[i % len(DOMAINS)]}".lower(),
                first_name=first,
                last_name=last,
                status=LEAD_STATUSES[rng.randrange(len(LEAD_STATUSES))],
                created=created,
                updated=created + rng.uniform(0, now - created),
                variables={
                    "zip": f"{rng.randint(10000, 99999)}",
                    "home_value": str(rng.randrange(150_000, 1_200_000, 5_000)),
                },
                campaigns=campaigns,
                tag_ids=[custom_tags[i % len(custom_tags)]] if custom_tags and i % 7 == 0 else None,
                emails_sent=sent,
            )
            ws.leads[lid] = lead
            ws.lead_ids_by_email[lead.email] = lid

    def _generate_replies(self, ws: FakeWorkspace, rng: random.Random) -> None:
        n = self.sizes["replies"]
        leads = list(ws.leads.values())
        senders = list(ws.senders.values())
        start = self.now - 90 * DAY
        for j in range(n):
            rid = ws.id * REPLY_STRIDE + j + 1
            lead = leads[rng.randrange(len(leads))] if leads else None
            sender = senders[rng.randrange(len(senders))] if senders else None
            roll = rng.random()
            folder = (
                "Inbox"
                if roll < 0.8
                else "Sent"
                if roll < 0.88
                else "Bounced"
                if roll < 0.95
                else "Spam"
            )
            text, keen = REPLY_TEXTS[rng.randrange(len(REPLY_TEXTS))]
            campaign_id = lead.campaigns[0]["campaign_id"] if lead and lead.campaigns else None
            tracked = folder == "Inbox" and campaign_id is not None
            kind = {"Sent": "Reply", "Bounced": "Bounced"}.get(
                folder, "Tracked Reply" if tracked else "Untracked Reply"
            )
            received = start + (j + rng.random()) * (90 * DAY / max(1, n))
            ws.replies[rid] = FakeReply(
                id=rid,
                campaign_id=campaign_id,
                lead_id=lead.id if lead else None,
                sender_email_id=sender["id"] if sender else None,
                folder=folder,
                type=kind,
                subject=f"Re: {SUBJECTS[j % len(SUBJECTS)].replace('{FIRST_NAME}', lead.first_name or '') if lead else 'Hello'}",
                text=text,
                from_name=f"{lead.first_name} {lead.last_name}" if lead else "Unknown",
                from_email=lead.email if lead else "unknown@example.com",
                to_email=sender["email"] if sender else "rep@example.com",
                received=received,
                updated=received,
                interested=tracked and keen and rng.random() < 0.7,
                automated="office" in text,
                read=rng.random() < 0.5,
                scheduled_email_id=(campaign_id * SCHEDULED_STRIDE + j % 50 + 1)
                if campaign_id
                else None,
                campaign_id_as_string=j % 5 == 0,
            )

    # -- daily series ------------------------------------------------------------

    def daily(self, ws: FakeWorkspace, cid: int, day: date) -> dict[str, int]:
        """Per-day counters of one campaign, synthetic or as loaded (plus recorded mutations)."""
        campaign = ws.campaigns[cid]
        ordinal = day.toordinal()
        out = dict.fromkeys(DAILY_KEYS, 0)
        created = datetime.fromtimestamp(campaign["created"], UTC).date()
        if ws.daily_seed is not None:
            out.update(ws.daily_seed.get((cid, ordinal), {}))
        elif campaign["sequence_id"] is not None and created <= day <= self.today:
            x = mix(cid, ordinal, self.seed)
            sent = 40 + x % 260
            replied = (x >> 8) % max(1, sent // 25)
            opens = sent * ((x >> 4) % 40) // 100 if campaign["open_tracking"] else 0
            out.update(
                sent=sent,
                replied=replied,
                unique_opens=opens,
                total_opens=opens + (x >> 12) % 5 if opens else 0,
                bounced=(x >> 16) % 4,
                unsubscribed=1 if (x >> 20) % 3 == 0 else 0,
                interested=replied * ((x >> 24) % 50) // 100,
            )
        for key, value in ws.daily_overlay.get((cid, ordinal), {}).items():
            out[key] += value
        return out

    def record_daily(self, ws: FakeWorkspace, cid: int, key: str, delta: int) -> None:
        bucket = ws.daily_overlay.setdefault((cid, datetime.now(UTC).date().toordinal()), {})
        bucket[key] = bucket.get(key, 0) + delta


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]
