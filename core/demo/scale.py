"""The demo grown ten-fold (`leadops demo --scale 10x`), in SQL set operations.

The full demo is generated first with 24 months of daily stats (20 clients, about 1M contacts,
50 campaigns a client); then every client is copied nine times, each copy an `INSERT … SELECT`
over the original's rows: 200 clients, about 10M contacts, 500 campaigns and about 1M replies.
New ids come from the tables' own sequences, so rows added later never collide with a copy's:
clients and batches through a small table of old and new ids per copy; contacts, too many for
such a join to be cheap, through one block of sequence values drawn at once (copy k's contact
is the original's id shifted into the k-th part of the block). A copy has its
original's campaigns, stats, leads, replies, sending accounts, batches and costs under its own
workspace id; ZIP territories are not copied (a ZIP belongs to one client).
"""

from __future__ import annotations

from core.platform.store import Database

GROWN = {"10x": ("tenfold", 10)}  # scale -> (the generated scale it starts from, copies)

# Tables copied per client: workspace_id is always remapped; these columns too.
REMAPPED = {
    "contacts": {"id": "c", "batch_id": "b"},
    "batches": {"id": "b"},
    "bison_leads": {"contact_id": "c"},
}
COPIED = [
    "contacts",
    "batches",
    "bison_campaigns",
    "bison_campaign_daily",
    "bison_sequence_steps",
    "bison_step_stats",
    "bison_campaign_schedules",
    "bison_campaign_sender_emails",
    "bison_sender_emails",
    "bison_tags",
    "bison_leads",
    "bison_replies",
    "pipeline_settings",
    "workspace_costs",
    "sync_cursors",
]


def _columns(cur, table: str) -> list[str]:
    return [
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main'"
            " AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def grow(db: Database, factor: int, progress=None) -> dict[str, int]:
    """Copy every client `factor - 1` times (see the module docstring); returns row counts."""
    step = progress or (lambda msg: None)
    if factor < 2:
        return {}
    with db.transaction() as cur:
        # new ids of clients and batches: one row per (copy, original)
        cur.execute(
            "CREATE TEMP TABLE _grow_w AS SELECT k, w.id AS old, nextval('workspaces_id_seq') AS new"
            " FROM workspaces w, range(1, ?) r(k) ORDER BY k, w.id",
            [factor],
        )
        cur.execute(
            "CREATE TEMP TABLE _grow_b AS SELECT k, b.id AS old, nextval('batches_id_seq') AS new"
            " FROM batches b, range(1, ?) r(k) ORDER BY k, b.id",
            [factor],
        )
        step("contact ids")
        span = cur.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchall()[0][0]
        first = cur.execute("SELECT nextval('contacts_id_seq')").fetchall()[0][0]
        if (factor - 1) * span > 1:  # the rest of the block: first .. first + (factor-1)*span - 1
            cur.execute(
                "SELECT max(nextval('contacts_id_seq')) FROM range(?)", [(factor - 1) * span - 1]
            ).fetchall()
        shift = f"{int(first) - 1} + (mw.k - 1) * {int(span)}"
        cols = _columns(cur, "workspaces")
        select = ", ".join(
            "m.new" if c == "id" else "w.name || ' ' || (m.k + 1)" if c == "name" else f"w.{c}"
            for c in cols
        )
        cur.execute(
            f"INSERT INTO workspaces ({', '.join(cols)}) SELECT {select}"
            " FROM workspaces w JOIN _grow_w m ON m.old = w.id"
        )
        for table in COPIED:
            step(table)
            cols = _columns(cur, table)
            remap = REMAPPED.get(table, {})
            joins = ["JOIN _grow_w mw ON mw.old = t.workspace_id"]
            exprs = []
            for c in cols:
                if c == "workspace_id":
                    exprs.append("mw.new")
                elif remap.get(c) == "c":
                    exprs.append(f"t.{c} + {shift}")
                elif c in remap:
                    kind = remap[c]
                    joins.append(
                        f"LEFT JOIN _grow_{kind} m_{c} ON m_{c}.k = mw.k AND m_{c}.old = t.{c}"
                    )
                    exprs.append(f"m_{c}.new")
                else:
                    exprs.append(f"t.{c}")
            cur.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)}"
                f" FROM {table} t {' '.join(joins)}"
            )
        for t in ("_grow_w", "_grow_b"):
            cur.execute(f"DROP TABLE {t}")
        counts = {
            t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ["workspaces", *COPIED]
        }
    db.bump_version()
    return counts
