"""Demo replies classified, client leads built from the interested ones, and a realistic spread
of pipeline stages and notes (older leads have moved further)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from core.platform.store import Database, insert_frame
from core.replies import client_leads
from core.replies import inbox as replies

TS = pl.Datetime("us", "UTC")

TABLES = (
    "reply_labels",
    "reply_sends",
    "client_lead_notes",
    "client_leads",
    "crm_attempts",
    "crm_deliveries",
    "crm_configs",
)
NOTES = [
    "Left a voicemail, will try again Thursday.",
    "Spoke with them: renewal is with Citizens, premium $3,400. Sending two quotes.",
    "Wants bundle with two cars. Asked for current dec page.",
    "Quote sent, $2,780 with Travelers. Follow up Monday.",
    "Bought the policy, effective on renewal date.",
    "Went with their current carrier after a rate match.",
]


def load(db: Database, rng: np.random.Generator, as_of: dt.date) -> dict[str, int]:
    with db.transaction() as cur:
        for t in TABLES:
            cur.execute(f"DELETE FROM {t}")
    classified = replies.classify_pending(db)
    client_leads.refresh(db)
    stamp = dt.datetime.combine(as_of, dt.time(6, 0), tzinfo=dt.UTC)
    leads = db.rows(
        "SELECT workspace_id, email, first_interested_at FROM client_leads ORDER BY ALL"
    )
    stages, notes = [], []
    for wid, email, since in leads:
        age = (stamp - since).days
        roll = rng.random()
        if age < 3:
            stage = "new" if roll < 0.7 else "contacted"
        elif age < 14:
            stage = ["new", "contacted", "quoted", "lost"][
                int(np.searchsorted([0.25, 0.7, 0.9], roll))
            ]
        else:
            stage = ["new", "contacted", "quoted", "won", "lost"][
                int(np.searchsorted([0.1, 0.35, 0.6, 0.8], roll))
            ]
        if stage != "new":
            changed = since + dt.timedelta(days=float(rng.uniform(0.2, max(0.3, min(age, 20)))))
            stages.append((stage, min(changed, stamp), wid, email))
            if rng.random() < 0.5:
                note = NOTES[{"contacted": 0, "quoted": 3, "won": 4, "lost": 5}[stage]]
                notes.append((wid, email, note, min(changed, stamp)))
    stage_frame = pl.DataFrame(
        stages,
        schema={"stage": pl.Utf8, "changed": TS, "workspace_id": pl.Int32, "email": pl.Utf8},
        orient="row",
    )
    note_frame = pl.DataFrame(
        notes,
        schema={"workspace_id": pl.Int32, "email": pl.Utf8, "body": pl.Utf8, "created_at": TS},
        orient="row",
    ).with_columns(created_by=pl.lit("demo"))
    with db.transaction() as cur:
        cur.register("_demo_stages", stage_frame.to_arrow())
        cur.execute(
            "UPDATE client_leads c SET stage = s.stage, stage_changed_at = s.changed,"
            " stage_changed_by = 'demo', created_at = c.first_interested_at FROM _demo_stages s"
            " WHERE c.workspace_id = s.workspace_id AND c.email = s.email"
        )
        cur.unregister("_demo_stages")
        cur.execute("UPDATE client_leads SET created_at = first_interested_at WHERE stage = 'new'")
        insert_frame(cur, "client_lead_notes", note_frame)
    return {"reply_labels": classified, "client_leads": len(leads)}
