"""A deterministic demo dataset shaped like the real agency's data, in the tables real syncs fill.

`load_demo(db, scale="small"|"full", seed=N, as_of=date)` gives the same rows for the same
(scale, seed, as_of). `small` is what `make run` shows; `full` is benchmark scale (about 1M
contacts, 20 clients, 50 campaigns x 4 steps x 3 variants, 100k replies).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import numpy as np
import polars as pl

from core.accounts import workspaces
from core.demo import data as D
from core.demo import leads as demo_leads
from core.demo import scale as demo_scale
from core.demo.billing import TABLES as BILLING_TABLES
from core.demo.billing import billing as _stripe_billing
from core.demo.bison import campaigns, daily_stats, leads_and_replies, sender_emails
from core.demo.data import SCALES, Scale
from core.platform import audit
from core.platform.renewals import add_months, batch_name, month_start, renewal_windows  # noqa: F401  (re-exported)
from core.platform.store import Database
from core.platform.store import insert_frame as _insert

DATA_TABLES = [
    "zip_assignments",
    "contacts",
    "batches",
    "pipeline_runs",
    "pipeline_stage_runs",
    "pipeline_settings",
    "bison_campaigns",
    "bison_sequence_steps",
    "bison_step_stats",
    "bison_campaign_daily",
    "bison_replies",
    "bison_leads",
    "bison_tags",
    "bison_sender_emails",
    "bison_campaign_sender_emails",
    "bison_campaign_schedules",
    "stripe_customers",
    "stripe_invoices",
    *BILLING_TABLES,
    "workspace_costs",
    "sync_cursors",
    "sync_runs",
    "jobs",
    "secret_refs",
    "workspaces",
]


MONTH_OFFSETS = [-4, -3, -2, -1, 0, 1]  # campaign months relative to the as-of month


class DemoError(RuntimeError):
    pass


def demo_stamp(as_of: dt.date, now: dt.datetime) -> dt.datetime:
    """When the demo's last syncs ran. For today's demo, the minute it is loaded: it opens
    freshly synced (no stale-sync alerts at 3 pm) and with nothing dated later than now (at
    2 am). For any other day, 06:00 UTC, so a given day and seed always give the same data."""
    if as_of == now.date():
        return now.replace(second=0, microsecond=0)
    return dt.datetime.combine(as_of, dt.time(6, 0), tzinfo=dt.UTC)


def load_demo(
    db: Database,
    *,
    scale: str = "small",
    seed: int = 42,
    as_of: dt.date | None = None,
    replace: bool = False,
    actor: str = "demo",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    if scale in demo_scale.GROWN:  # generated at one scale, then copied in SQL
        base, copies = demo_scale.GROWN[scale]
        counts = load_demo(
            db, scale=base, seed=seed, as_of=as_of, replace=replace, actor=actor, progress=progress
        )
        counts.update(demo_scale.grow(db, copies))
        return counts
    if scale not in SCALES:
        raise DemoError(f"Unknown scale {scale!r}; use small, full or 10x.")
    if not workspaces.none_yet(db) and not replace:
        raise DemoError(
            "The database already has client workspaces; pass --replace to wipe them and load the demo."
        )
    sc = SCALES[scale]
    now = dt.datetime.now(dt.UTC)
    as_of = as_of or now.date()
    rng = np.random.default_rng(seed)
    stamp = demo_stamp(as_of, now)
    step = _progress(progress, 8)

    with db.transaction() as cur:
        for t in DATA_TABLES:
            cur.execute(f"DELETE FROM {t}")
        cur.execute("DELETE FROM audit_log WHERE action = 'demo.load'")
        step("clients and territories")
        ws = _workspaces(cur, rng, sc, stamp)
        step("contacts")
        contacts = _contacts(cur, rng, sc, ws, as_of, stamp)
        step("batches")
        _batches(cur, contacts, as_of, stamp)
        _pipeline_history(cur, as_of)
        step("campaigns and sequences")
        camps, steps = campaigns(cur, rng, sc, ws, as_of, stamp)
        # each client's batches go to its evergreen campaign (its first)
        cur.execute(
            "INSERT INTO pipeline_settings (workspace_id, upload_campaign_id, updated_at, updated_by)"
            " SELECT workspace_id, min(id), ?, 'demo' FROM bison_campaigns GROUP BY ALL",
            [stamp],
        )
        step("daily stats")
        svd = daily_stats(cur, rng, sc, ws, camps, steps, as_of)
        step("leads, replies and sending accounts")
        leads_and_replies(cur, rng, ws, contacts, svd, steps, stamp)
        sender_emails(cur, rng, ws, camps, stamp)
        step("billing and costs")
        _billing(
            cur,
            ws,
            as_of,
            stamp,
            first_month=add_months(month_start(as_of - dt.timedelta(days=sc.days)), 1),
        )
        _sync_history(cur, ws, stamp)
        counts = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in DATA_TABLES}
        audit.record(
            cur,
            actor=actor,
            action="demo.load",
            entity="database",
            entity_id=str(db.path.name),
            after={
                "scale": scale,
                "seed": seed,
                "as_of": as_of.isoformat(),
                "workspaces": counts["workspaces"],
            },
        )
        cur.execute("UPDATE audit_log SET occurred_at = ? WHERE action = 'demo.load'", [stamp])
        step("done")
    counts.update(demo_leads.load(db, rng, as_of))
    return counts


def _progress(cb, total):
    state = {"i": 0}

    def step(msg: str) -> None:
        if cb:
            cb(msg, state["i"], total)
        state["i"] += 1

    return step


# -- clients ---------------------------------------------------------------------------------


def _workspaces(cur, rng, sc: Scale, stamp) -> pl.DataFrame:
    rows = []
    used_names: set[str] = set()
    for i in range(sc.workspaces):
        city, state, lat, lon = D.METROS[i % len(D.METROS)]
        while True:
            name = (
                f"{D.AGENT_FIRST[rng.integers(len(D.AGENT_FIRST))]} "
                f"{D.AGENT_LAST[rng.integers(len(D.AGENT_LAST))]} "
                f"{D.AGENCY_SUFFIX[rng.integers(len(D.AGENCY_SUFFIX))]}"
            )
            if name not in used_names:
                used_names.add(name)
                break
        tier = "200" if i % 3 == 0 else "100"
        per_lead = i % 3 != 2
        hnw = i == 11
        rows.append(
            {
                "id": i + 1,
                "name": name,
                "contact_email": f"{name.split()[0].lower()}@{name.split()[1].lower()}insurance.com",
                "licensed_states": [state],
                "tier": tier,
                "monthly_target": int(tier),
                "billing_type": "per_lead" if per_lead else "retainer",
                "price_per_lead_cents": int(rng.integers(45, 86)) * 100 if per_lead else 0,
                "retainer_cents": 0 if per_lead else int(rng.integers(8, 19)) * 500_00,
                "home_value_cap": 5_000_000 if hnw else 900_000,
                "high_net_worth": hnw,
                "bison_workspace_id": 100 + i,
                "timezone": "America/Chicago"
                if state in ("TX", "OK", "MO", "TN", "AL")
                else "America/New_York",
                "active": True,
                # retainer clients are the agency's oldest accounts (over a year of billing)
                "created_at": stamp - dt.timedelta(days=(200 - i) if per_lead else (540 - 25 * i)),
                "updated_at": stamp - dt.timedelta(days=(200 - i) if per_lead else (540 - 25 * i)),
                "metro_lat": lat,
                "metro_lon": lon,
                # how well this client's campaigns perform (drives on-track / warning / danger)
                "perf": float(np.round(rng.uniform(0.55, 1.25), 3)),
                "readiness": float(np.round(rng.uniform(0.35, 1.0), 3)),
            }
        )
    df = pl.DataFrame(rows)
    _insert(cur, "workspaces", df.drop("metro_lat", "metro_lon", "perf", "readiness"))
    cur.execute(f"SELECT setval('workspaces_id_seq', {sc.workspaces})")
    # Exclusive ZIP territories: the nearest residential ZIPs to each metro, first come first served.
    taken: set[str] = set()
    zip_rows = []
    for w in rows:
        lat, lon = w["metro_lat"], w["metro_lon"]
        cands = cur.execute(
            "SELECT zip FROM us_zip_codes WHERE state = ? AND zip_type = 'STANDARD' AND active"
            " AND lat IS NOT NULL ORDER BY (lat - ?)^2 + ((lon - ?) * cos(radians(?)))^2, zip LIMIT ?",
            [w["licensed_states"][0], lat, lon, lat, sc.zips_per_client * 2],
        ).fetchall()
        picked = [z for (z,) in cands if z not in taken][: sc.zips_per_client]
        taken.update(picked)
        zip_rows += [
            {
                "zip": z,
                "workspace_id": w["id"],
                "assigned_at": w["created_at"],
                "assigned_by": "demo",
            }
            for z in picked
        ]
    _insert(cur, "zip_assignments", pl.DataFrame(zip_rows))
    return df


# -- contacts and batches ----------------------------------------------------------------------


def _contacts(cur, rng, sc: Scale, ws: pl.DataFrame, as_of: dt.date, stamp) -> pl.DataFrame:
    n = sc.contacts
    weights = np.array([2.0 if t == "200" else 1.0 for t in ws["tier"]])
    w_idx = rng.choice(ws.height, size=n, p=weights / weights.sum())
    w_idx.sort()
    ws_ids = ws["id"].to_numpy()[w_idx]
    offsets = rng.choice(MONTH_OFFSETS, size=n)
    this_month = month_start(as_of)
    month_list = [add_months(this_month, o) for o in MONTH_OFFSETS]
    camp_month = np.array([np.datetime64(add_months(this_month, int(o))) for o in MONTH_OFFSETS])[
        np.searchsorted(MONTH_OFFSETS, offsets)
    ]
    renew_month = camp_month.astype("datetime64[M]") + 1
    days_in = (
        (renew_month + 1).astype("datetime64[D]") - renew_month.astype("datetime64[D]")
    ).astype(int)
    renew_day = (rng.random(n) * days_in).astype(int)  # 0-based
    years_back = rng.integers(1, 18, size=n)
    purchase = (renew_month - 12 * years_back).astype("datetime64[D]") + renew_day

    zips = cur.sql(
        "SELECT a.workspace_id, a.zip, z.city, z.state FROM zip_assignments a JOIN us_zip_codes z USING (zip)"
        " ORDER BY a.workspace_id, a.zip"
    ).pl()
    zip_of = np.empty(n, dtype=object)
    city_of = np.empty(n, dtype=object)
    state_of = np.empty(n, dtype=object)
    for wid, grp in zips.group_by("workspace_id", maintain_order=True):
        mask = ws_ids == wid[0]
        pick = rng.integers(grp.height, size=int(mask.sum()))
        zip_of[mask] = grp["zip"].to_numpy()[pick]
        city_of[mask] = grp["city"].to_numpy()[pick]
        state_of[mask] = grp["state"].to_numpy()[pick]

    first = np.array(D.FIRST_NAMES)[rng.integers(len(D.FIRST_NAMES), size=n)]
    last = np.array(D.LAST_NAMES)[rng.integers(len(D.LAST_NAMES), size=n)]
    home_value = np.round(np.exp(rng.normal(np.log(340_000), 0.55, size=n)), -3).astype(np.int64)
    hoh = rng.random(n) < 0.86
    cap = ws["home_value_cap"].to_numpy()[w_idx]
    ids = np.arange(1, n + 1)

    # Pipeline status: rejected by the filter rules, invalid at verification, else as far as
    # the month's work has come: past and current months are uploaded; next month depends on
    # how far each client's preparation is.
    rejected = ~hoh | (home_value > cap)
    reason = np.where(
        ~hoh, "not head of household", np.where(home_value > cap, "home value over cap", None)
    )
    verif_u = rng.random(n)
    verification = np.where(verif_u < 0.07, "invalid", np.where(verif_u < 0.10, "risky", "safe"))
    readiness = ws["readiness"].to_numpy()[w_idx]
    u = rng.random(n)
    nxt = offsets == 1
    status = np.where(
        rejected, "rejected", np.where(verification != "safe", "invalid", "uploaded")
    ).astype(object)
    status[nxt & ~rejected & (verification == "safe")] = "batched"
    stage_pending = nxt & (u >= readiness)
    status[stage_pending & (u < readiness + (1 - readiness) / 2)] = "filtered"
    status[stage_pending & (u >= readiness + (1 - readiness) / 2)] = "raw"
    status[
        nxt & (u < readiness) & ~rejected & (verification == "safe") & (rng.random(n) < 0.15)
    ] = "verified"
    raw_or_filtered = np.isin(status, ["raw", "filtered"])
    verification = np.where(raw_or_filtered, None, np.where(rejected, None, verification))
    reason = np.where(
        status == "rejected", reason, np.where(status == "invalid", "email not safe to send", None)
    )

    # Imported 16 days before their campaign month, or yesterday when that is still to come:
    # nothing in the demo is dated after its "today".
    imported = np.array(
        [
            np.datetime64(
                dt.datetime.combine(
                    min(m - dt.timedelta(days=16), as_of - dt.timedelta(days=1)), dt.time(9)
                )
            )
            for m in month_list
        ]
    )[np.searchsorted(MONTH_OFFSETS, offsets)]
    df = pl.DataFrame(
        {
            "id": ids,
            "workspace_id": ws_ids.astype(np.int32),
            "first_name": first,
            "last_name": last,
            "address": pl.Series(rng.integers(100, 9999, size=n)).cast(pl.Utf8)
            + " "
            + pl.Series(np.array(D.STREETS)[rng.integers(len(D.STREETS), size=n)])
            + " "
            + pl.Series(np.array(D.STREET_TYPES)[rng.integers(len(D.STREET_TYPES), size=n)]),
            "city": city_of.astype(str),
            "state": state_of.astype(str),
            "zip": zip_of.astype(str),
            "cell_phone": pl.Series(rng.integers(2_000_000_000, 9_999_999_999, size=n)).cast(
                pl.Utf8
            ),
            "purchase_date": purchase,
            "home_value": home_value,
            "head_of_household": hoh,
            "income": (np.round(np.exp(rng.normal(np.log(95_000), 0.45, size=n)), -3)).astype(
                np.int64
            ),
            "date_of_birth": (
                np.datetime64("1950-01-01") + rng.integers(0, 365 * 45, size=n)
            ).astype("datetime64[D]"),
            "renewal_month": renew_month.astype("datetime64[D]"),
            "campaign_month": camp_month.astype("datetime64[D]"),
            "status": status.astype(str),
            "reject_reason": pl.Series(reason.tolist(), dtype=pl.Utf8),
            "verification_result": pl.Series(verification.tolist(), dtype=pl.Utf8),
            "source": np.where(rng.random(n) < 0.7, "master_db", "import"),
            "imported_at": imported,
            "updated_at": imported,
        }
    ).with_columns(
        email=(
            pl.col("first_name").str.to_lowercase()
            + "."
            + pl.col("last_name").str.to_lowercase()
            + pl.col("id").cast(pl.Utf8)
            + "@"
            + pl.Series(np.array(D.EMAIL_DOMAINS)[rng.integers(len(D.EMAIL_DOMAINS), size=n)])
        ),
        imported_at=pl.col("imported_at").dt.replace_time_zone("UTC"),
        updated_at=pl.col("updated_at").dt.replace_time_zone("UTC"),
    )
    _insert(cur, "contacts", df)
    cur.execute(f"SELECT setval('contacts_id_seq', {n})")
    return df.select(
        "id",
        "workspace_id",
        "email",
        "first_name",
        "last_name",
        "status",
        "campaign_month",
        "renewal_month",
        "purchase_date",
    )


def _batches(cur, contacts: pl.DataFrame, as_of: dt.date, stamp) -> None:
    this_month = month_start(as_of)
    cur.execute(
        "CREATE OR REPLACE TEMP MACRO _ordinal(n) AS n || CASE WHEN n % 100 BETWEEN 11 AND 13 THEN 'th'"
        " WHEN n % 10 = 1 THEN 'st' WHEN n % 10 = 2 THEN 'nd' WHEN n % 10 = 3 THEN 'rd' ELSE 'th' END"
    )
    cur.execute(
        "CREATE TEMP TABLE _windows AS SELECT * FROM (VALUES (1, 1, 7), (2, 8, 14), (3, 15, 21), (4, 22, 31)) t(w, a, b)"
    )
    cur.execute(
        """
        INSERT INTO batches (id, workspace_id, campaign_month, renewal_month, window_start, window_end, name,
                             status, contact_count, created_at, uploaded_at)
        SELECT row_number() OVER (ORDER BY workspace_id, renewal_month, w) AS id, workspace_id,
               campaign_month, renewal_month,
               renewal_month + (a - 1) AS window_start,
               least(renewal_month + (b - 1), last_day(renewal_month)) AS window_end,
               strftime(renewal_month, '%B') || ' ' || _ordinal(a) || '–'
                 || _ordinal(day(least(renewal_month + (b - 1), last_day(renewal_month)))) || ' renewals' AS name,
               CASE WHEN campaign_month <= ? THEN 'uploaded' ELSE 'pending' END,
               -- cut and uploaded by the month's pipeline run (nine days before the month, see
               -- `_pipeline_history`); the coming month's are cut, not uploaded, and none is
               -- dated after the demo's "today"
               0, least(campaign_month - INTERVAL 9 DAY, ?::DATE - INTERVAL 1 DAY) + INTERVAL 13 HOUR
                  + (w - 1) * INTERVAL 1 MINUTE,
               CASE WHEN campaign_month <= ? THEN campaign_month - INTERVAL 9 DAY + INTERVAL 13 HOUR
                                                  + (w - 1) * INTERVAL 1 MINUTE END
        FROM (SELECT DISTINCT workspace_id, campaign_month, renewal_month FROM contacts) m, _windows
        """,
        [this_month, as_of, this_month],
    )
    cur.execute(
        """
        UPDATE contacts c SET batch_id = b.id FROM batches b
        WHERE c.status IN ('uploaded', 'batched') AND b.workspace_id = c.workspace_id
          AND b.renewal_month = c.renewal_month
          AND (c.purchase_date + (year(c.renewal_month) - year(c.purchase_date)) * INTERVAL 1 YEAR)::DATE
              BETWEEN b.window_start AND b.window_end
        """
    )
    cur.execute(
        "UPDATE batches SET contact_count = n FROM (SELECT batch_id, count(*) n FROM contacts"
        " WHERE batch_id IS NOT NULL GROUP BY 1) s WHERE s.batch_id = batches.id"
    )
    cur.execute("SELECT setval('batches_id_seq', (SELECT coalesce(max(id), 0) FROM batches))")
    cur.execute("DROP TABLE _windows")
    cur.execute("DROP MACRO _ordinal")


def _pipeline_history(cur, as_of: dt.date) -> None:
    """A finished pipeline run for every client and renewal month already uploaded, its stage
    counts read off the contacts (so run history, the funnel and gap-to-goal's pass rates agree
    with the data). The coming month has none yet: it is the pending work on the Pipeline page."""
    cur.execute(
        """
        CREATE TEMP TABLE _runs AS
        SELECT row_number() OVER (ORDER BY campaign_month, workspace_id) AS id, *,
               (campaign_month - INTERVAL 9 DAY + INTERVAL 9 HOUR
                 + workspace_id * INTERVAL 7 MINUTE)::TIMESTAMPTZ AS started
        FROM (
        SELECT workspace_id, renewal_month, campaign_month,
               count(*) FILTER (WHERE status <> 'raw') AS raw,
               count(*) FILTER (WHERE status NOT IN ('raw', 'rejected')) AS kept,
               count(*) FILTER (WHERE verification_result = 'safe') AS safe,
               count(*) FILTER (WHERE verification_result = 'risky') AS risky,
               count(*) FILTER (WHERE verification_result = 'invalid') AS invalid,
               count(*) FILTER (WHERE verification_result = 'unknown') AS unknown,
               count(*) FILTER (WHERE status IN ('batched', 'uploaded')) AS batched,
               count(*) FILTER (WHERE status = 'uploaded') AS uploaded
        FROM contacts
        WHERE campaign_month <= ? GROUP BY ALL
        )
        """,
        [month_start(as_of)],
    )
    cur.execute(
        """
        CREATE TEMP TABLE _removed AS
        SELECT r.id, to_json(map_from_entries(list({'k': c.reject_reason, 'v': c.n}
                                                  ORDER BY c.n DESC, c.reject_reason))) AS removed
        FROM _runs r JOIN (
            SELECT workspace_id, renewal_month, reject_reason, count(*) AS n FROM contacts
            WHERE status = 'rejected' GROUP BY ALL
        ) c USING (workspace_id, renewal_month)
        GROUP BY r.id
        """
    )
    cur.execute(
        """
        INSERT INTO pipeline_runs (id, workspace_id, month, from_stage, status, requested_by,
                                   created_at, started_at, finished_at)
        SELECT id, workspace_id, renewal_month, 'filter', 'succeeded', 'ops@agency.example',
               started, started, started + INTERVAL 95 SECOND
        FROM _runs
        """
    )
    cur.execute(
        """
        INSERT INTO pipeline_stage_runs (run_id, stage, position, status, done, total,
                                         input_count, output_count, counts, started_at, finished_at)
        SELECT id, stage, position, 'succeeded', i, i, i, o, counts,
               started + s * INTERVAL 1 SECOND, started + e * INTERVAL 1 SECOND
        FROM (
            SELECT r.id, r.started, 'filter' AS stage, 0 AS position, raw AS i, kept AS o, 0 AS s, 2 AS e,
                   json_object('input', raw, 'output', kept,
                               'removed_by_rule', coalesce(m.removed, '{}'::JSON)) AS counts
            FROM _runs r LEFT JOIN _removed m USING (id)
            UNION ALL
            SELECT id, started, 'verify', 1, kept, safe, 2, 60,
                   json_object('input', kept, 'output', safe, 'mode', 'local', 'credits', 0,
                               'cost_cents', 0, 'results', json_object('safe', safe, 'risky', risky,
                               'invalid', invalid, 'unknown', unknown))
            FROM _runs
            UNION ALL
            SELECT id, started, 'batch', 2, safe, batched, 60, 62,
                   json_object('input', safe, 'output', batched)
            FROM _runs
            UNION ALL
            SELECT id, started, 'upload', 3, batched, uploaded, 62, 95,
                   json_object('input', batched, 'output', uploaded)
            FROM _runs
        )
        """
    )
    cur.execute(
        "SELECT setval('pipeline_runs_id_seq', (SELECT coalesce(max(id), 0) FROM pipeline_runs))"
    )
    cur.execute("DROP TABLE _runs")
    cur.execute("DROP TABLE _removed")


# -- Stripe and costs --------------------------------------------------------------------------


def _billing(cur, ws: pl.DataFrame, as_of: dt.date, stamp, first_month: dt.date) -> None:
    _stripe_billing(cur, ws, as_of, stamp, first_month)


def _sync_history(cur, ws: pl.DataFrame, stamp) -> None:
    for i, w in enumerate(ws.iter_rows(named=True)):
        finished = stamp - dt.timedelta(minutes=5 + i)
        cur.execute(
            "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status, counts, requests, triggered_by)"
            " VALUES ('bison', ?, ?, ?, 'succeeded', ?, ?, 'demo')",
            [
                w["id"],
                finished - dt.timedelta(seconds=40),
                finished,
                json.dumps({"campaigns": 2, "replies": 14}),
                31,
            ],
        )
    cur.execute(
        "INSERT INTO sync_runs (source, started_at, finished_at, status, counts, requests, triggered_by)"
        " VALUES ('stripe', ?, ?, 'succeeded', ?, 12, 'demo')",
        [
            stamp - dt.timedelta(hours=2, seconds=20),
            stamp - dt.timedelta(hours=2),
            json.dumps({"customers": 13, "subscriptions": 6, "invoices": 90, "charges": 80}),
        ],
    )
