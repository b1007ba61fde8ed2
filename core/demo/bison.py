"""The demo's Email Bison side: campaigns, sequences with A/B variants, daily stats, leads,
replies and sending accounts, consistent with each other (the interested replies are exactly the
interested counts in the stats)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from core.demo import data as D
from core.demo.data import Scale
from core.platform.renewals import add_months, month_start, renewal_windows
from core.platform.store import insert_frame as _insert

NON_INTERESTED_MIX = [  # share of non-interested replies by REPLY_KINDS index 1..6
    (1, 0.45),
    (2, 0.10),
    (3, 0.15),
    (4, 0.08),
    (5, 0.15),
    (6, 0.07),
]


def campaigns(cur, rng, sc: Scale, ws: pl.DataFrame, as_of: dt.date, stamp):
    per_ws = np.full(ws.height, sc.campaigns // ws.height)
    per_ws[: sc.campaigns - per_ws.sum()] += 1
    this_month = month_start(as_of)
    last_batch = renewal_windows(add_months(this_month, 1))[
        (as_of.day - 1) // 7 if as_of.day <= 28 else 3
    ]
    camps, steps = [], []
    step_id = 5000
    cid = 1000
    for wi, w in enumerate(ws.iter_rows(named=True)):
        for k in range(int(per_ws[wi])):
            cid += 1
            if k == 0:
                name = f"Evergreen, Last Upload: {last_batch[0]:%B} {last_batch[0].day}–{last_batch[1].day}"
                status, start, end = "active", sc.days, 0
            elif k == 1:
                name = f"{add_months(this_month, -3):%B} renewals re-engage"
                status, start, end = (
                    ("paused", sc.days // 2, 6) if wi % 4 == 1 else ("active", sc.days // 2, 0)
                )
            else:
                name = f"Bundle offer {add_months(this_month, -5):%b %Y}"
                status, start, end = "completed", sc.days, sc.days // 2
            created = stamp - dt.timedelta(days=start + 3)
            camps.append(
                {
                    "workspace_id": w["id"],
                    "id": cid,
                    "uuid": f"demo-{w['id']}-{cid}",
                    "name": name,
                    "type": "outbound",
                    "status": status,
                    "max_emails_per_day": int(w["tier"]) * 20,
                    "max_new_leads_per_day": int(w["tier"]) * 6,
                    "created_at": created,
                    "updated_at": stamp - dt.timedelta(days=end),
                    "synced_at": stamp,
                    "_start": start,
                    "_end": end,
                    "_share": 0.7 if k == 0 else 0.3,
                }
            )
            for s in range(sc.steps):
                base = None
                for v in range(3):
                    step_id += 1
                    subj, body = D.STEPS_COPY[s][v]
                    steps.append(
                        {
                            "workspace_id": w["id"],
                            "id": step_id,
                            "campaign_id": cid,
                            "step_order": s + 1,
                            "email_subject": subj,
                            "email_body": body,
                            "wait_in_days": D.STEP_WAIT_DAYS[s],
                            "variant": v > 0,
                            "variant_of_step_id": base,
                            "thread_reply": s in (1, 2),
                            "active": True,
                            "synced_at": stamp,
                            "_step": s,
                            "_var": v,
                        }
                    )
                    base = base or step_id
    camps_df = pl.DataFrame(camps)
    steps_df = pl.DataFrame(steps)
    _insert(cur, "bison_campaigns", camps_df.drop("_start", "_end", "_share"))
    # Every campaign sends on weekdays, 8 to 5 in the client's time zone.
    zones = dict(zip(ws["id"].to_list(), ws["timezone"].to_list(), strict=True))
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    schedules = pl.DataFrame(
        {
            "workspace_id": camps_df["workspace_id"],
            "campaign_id": camps_df["id"],
            "days": [weekdays] * camps_df.height,
            "start_time": [dt.time(8, 0)] * camps_df.height,
            "end_time": [dt.time(17, 0)] * camps_df.height,
            "timezone": [zones[w] for w in camps_df["workspace_id"].to_list()],
            "synced_at": [stamp] * camps_df.height,
        }
    )
    _insert(cur, "bison_campaign_schedules", schedules)
    _insert(cur, "bison_sequence_steps", steps_df.drop("_step", "_var"))
    return camps_df, steps_df


def daily_stats(cur, rng, sc: Scale, ws, camps: pl.DataFrame, steps: pl.DataFrame, as_of: dt.date):
    tiers = dict(cur.execute("SELECT tier, emails_per_day FROM package_tiers").fetchall())
    days = np.array([np.datetime64(as_of - dt.timedelta(days=d)) for d in range(sc.days, 0, -1)])
    weekday = np.array([(as_of - dt.timedelta(days=d)).weekday() for d in range(sc.days, 0, -1)])
    # Campaigns send on their schedule's days only (Mon–Fri, see `campaigns`): nothing on weekends,
    # and weekdays carry the week (5 × 1.3 ≈ 7 × 0.93 of the plan a day on average).
    day_factor = np.where(weekday >= 5, 0.0, 1.3)
    ws_by_id = {r["id"]: r for r in ws.iter_rows(named=True)}
    step_weights = {3: [0.5, 0.3, 0.2], 4: [0.4, 0.27, 0.2, 0.13]}[sc.steps]
    var_mult = rng.uniform(0.7, 1.35, size=(sc.steps, 3))
    var_mult[:, 0] = 1.0
    out = []
    for c in camps.iter_rows(named=True):
        w = ws_by_id[c["workspace_id"]]
        active = (np.arange(sc.days) >= sc.days - c["_start"]) & (
            np.arange(sc.days) < sc.days - c["_end"]
        )
        plan = tiers[w["tier"]] * c["_share"]
        sent = rng.poisson(plan * day_factor * rng.uniform(0.85, 1.02, size=sc.days)) * active
        reply_rate = 0.0125 * w["perf"] * sc.reply_boost
        c_steps = steps.filter(pl.col("campaign_id") == c["id"])
        shares = np.array([step_weights[s] / 3 for s in c_steps["_step"]])
        split = np.array([rng.multinomial(n, shares / shares.sum()) for n in sent])  # days x steps
        mult = np.array(
            [var_mult[s, v] for s, v in zip(c_steps["_step"], c_steps["_var"], strict=True)]
        )
        replied = rng.binomial(split, np.clip(reply_rate * mult, 0, 1))
        interested = rng.binomial(replied, np.clip(0.18 * np.sqrt(mult) / sc.reply_boost, 0, 1))
        bounced = rng.binomial(split, 0.011)
        unsub = rng.binomial(split, 0.0025)
        opened = rng.binomial(split, 0.22)
        for j, sid in enumerate(c_steps["id"]):
            keep = split[:, j] > 0
            out.append(
                pl.DataFrame(
                    {
                        "workspace_id": np.full(keep.sum(), c["workspace_id"], dtype=np.int32),
                        "campaign_id": np.full(keep.sum(), c["id"], dtype=np.int64),
                        "step_id": np.full(keep.sum(), sid, dtype=np.int64),
                        "day": days[keep].astype("datetime64[D]"),
                        "sent": split[keep, j],
                        "opened": opened[keep, j],
                        "replied": replied[keep, j],
                        "interested": interested[keep, j],
                        "bounced": bounced[keep, j],
                        "unsubscribed": unsub[keep, j],
                    }
                )
            )
    svd = pl.concat(out)
    _insert(cur, "bison_step_stats", svd)
    cur.execute(
        "INSERT INTO bison_campaign_daily SELECT workspace_id, campaign_id, day, sum(sent), sum(opened),"
        " sum(replied), sum(interested), sum(bounced), sum(unsubscribed) FROM bison_step_stats GROUP BY ALL"
    )
    cur.execute(
        """
        UPDATE bison_campaigns c SET emails_sent = s.sent, opened = s.opened, unique_opens = s.opened,
            replied = s.replied, unique_replies = s.replied, bounced = s.bounced, unsubscribed = s.unsub,
            interested = s.interested, total_leads_contacted = s.contacted,
            total_leads = CAST(s.contacted * 1.15 AS BIGINT)
        FROM (SELECT workspace_id, campaign_id, sum(sent) sent, sum(opened) opened, sum(replied) replied,
                     sum(bounced) bounced, sum(unsubscribed) unsub, sum(interested) interested,
                     sum(sent) FILTER (WHERE step_id IN (SELECT id FROM bison_sequence_steps WHERE step_order = 1)) contacted
              FROM bison_step_stats GROUP BY ALL) s
        WHERE c.workspace_id = s.workspace_id AND c.id = s.campaign_id
        """
    )
    return svd


def leads_and_replies(
    cur, rng, ws, contacts: pl.DataFrame, svd: pl.DataFrame, steps: pl.DataFrame, stamp
) -> None:
    uploaded = contacts.filter(pl.col("status") == "uploaded")
    leads = uploaded.select(
        "workspace_id",
        pl.col("id").alias("contact_id"),
        pl.col("id").alias("id") + 500_000,
        "email",
        "first_name",
        "last_name",
        pl.lit("verified").alias("status"),
        pl.lit("in_sequence").alias("campaign_status"),
        pl.col("campaign_month").cast(pl.Datetime("us", "UTC")).alias("created_at"),
    ).with_columns(updated_at=pl.col("created_at"), synced_at=pl.lit(stamp))
    # Replies: one row per replied message in the step stats, interested ones first per row.
    rows = svd.filter(pl.col("replied") > 0)
    reps = (
        rows.select(
            "workspace_id",
            "campaign_id",
            "step_id",
            "day",
            pl.int_ranges(0, pl.col("replied")).alias("k"),
            "interested",
        )
        .explode("k")
        .with_columns(is_int=pl.col("k") < pl.col("interested"))
    )
    n = reps.height
    cat = np.zeros(n, dtype=np.int64)
    non = ~reps["is_int"].to_numpy()
    kinds, probs = zip(*NON_INTERESTED_MIX, strict=True)
    cat[non] = rng.choice(kinds, size=int(non.sum()), p=np.array(probs) / sum(probs))
    text_idx = rng.integers(0, 100, size=n)
    body = np.array(
        [
            D.REPLY_KINDS[c][4][t % len(D.REPLY_KINDS[c][4])]
            for c, t in zip(cat, text_idx, strict=True)
        ]
    )
    # Leads: every reply comes from its own lead, drawn from all the leads the client's campaigns
    # contacted (first-step sends). The contacts LeadOps uploaded are some of them; the rest are
    # leads the campaigns hold from before (no contact here), created only when one replies. So
    # an uploaded contact replies about as often as any contacted lead does (a few percent), and
    # the funnel's "replied" agrees with the reply rate per email.
    first = steps.filter(pl.col("step_order") == 1)["id"]
    contacted = dict(
        svd.filter(pl.col("step_id").is_in(first.implode()))
        .group_by("workspace_id")
        .agg(pl.col("sent").sum())
        .iter_rows()
    )
    pools = {
        wid[0]: rng.permutation(grp["id"].to_numpy())
        for wid, grp in leads.group_by("workspace_id", maintain_order=True)
    }
    lead_id = np.zeros(n, dtype=np.int64)
    ws_arr = reps["workspace_id"].to_numpy()
    extra_ids: list[np.ndarray] = []
    extra_ws: list[np.ndarray] = []
    next_extra = 2_000_000
    for wid in np.unique(ws_arr):
        idx = np.flatnonzero(ws_arr == wid)
        pool = pools.get(int(wid), np.zeros(0, dtype=np.int64))
        size = max(int(contacted.get(int(wid), 0)), pool.size + idx.size)
        pick = rng.choice(size, size=idx.size, replace=False)
        linked = pick < pool.size
        lead_id[idx[linked]] = pool[pick[linked]]
        k = int((~linked).sum())
        new = np.arange(next_extra, next_extra + k, dtype=np.int64)
        next_extra += k
        lead_id[idx[~linked]] = new
        extra_ids.append(new)
        extra_ws.append(np.full(k, wid, dtype=np.int32))
    ids = np.concatenate(extra_ids) if extra_ids else np.zeros(0, dtype=np.int64)
    m = ids.size
    ef = np.array(D.FIRST_NAMES)[rng.integers(len(D.FIRST_NAMES), size=m)]
    el = np.array(D.LAST_NAMES)[rng.integers(len(D.LAST_NAMES), size=m)]
    edomain = np.array(D.EMAIL_DOMAINS)[rng.integers(len(D.EMAIL_DOMAINS), size=m)]
    older = pl.DataFrame(
        {
            "workspace_id": np.concatenate(extra_ws) if extra_ws else np.zeros(0, dtype=np.int32),
            "contact_id": pl.Series([None] * m, dtype=pl.Int64),
            "id": ids,
            "email": [
                f"{a.lower()}.{b.lower()}.{i}@{d}"
                for a, b, i, d in zip(ef, el, ids, edomain, strict=True)
            ],
            "first_name": ef,
            "last_name": el,
        }
    )
    first_day = svd["day"].min()
    older = older.with_columns(
        status=pl.lit("verified"),
        campaign_status=pl.lit("in_sequence"),
        created_at=pl.lit(first_day).cast(pl.Datetime("us", "UTC")),
    ).with_columns(updated_at=pl.col("created_at"), synced_at=pl.lit(stamp))
    leads = pl.concat([leads, older.select(leads.columns).cast(leads.schema)], how="vertical")
    lead_email = leads.select("id", "email", "first_name", "last_name")
    subj = steps.select(pl.col("id").alias("step_id"), "email_subject")
    seconds = rng.integers(7 * 3600, 22 * 3600, size=n)
    replies = (
        reps.with_columns(
            id=pl.int_range(1, n + 1, dtype=pl.Int64) + 900_000,
            lead_id=pl.Series(lead_id),
            category=pl.Series([D.REPLY_KINDS[c][0] for c in cat]),
            sentiment=pl.Series([D.REPLY_KINDS[c][1] for c in cat]),
            automated_reply=pl.Series([D.REPLY_KINDS[c][3] for c in cat]),
            text_body=pl.Series(body),
            date_received=(
                pl.col("day").cast(pl.Datetime("us")) + pl.duration(seconds=pl.Series(seconds))
            ).dt.replace_time_zone("UTC"),
        )
        .join(lead_email, left_on="lead_id", right_on="id", how="left")
        .join(subj, on="step_id", how="left")
    )
    replies = replies.select(
        "workspace_id",
        "id",
        pl.format("demo-r-{}", "id").alias("uuid"),
        "campaign_id",
        "lead_id",
        pl.lit("Inbox").alias("folder"),
        ("Re: " + pl.col("email_subject")).alias("subject"),
        "text_body",
        (pl.col("first_name") + " " + pl.col("last_name")).alias("from_name"),
        pl.col("email").alias("from_email"),
        pl.col("is_int").alias("interested"),
        "automated_reply",
        (pl.col("date_received") < pl.lit(stamp - dt.timedelta(days=2))).alias("read"),
        pl.lit("Tracked Reply").alias("type"),
        "sentiment",
        "category",
        "date_received",
        pl.col("date_received").alias("created_at"),
        pl.col("date_received").alias("updated_at"),
        pl.lit(stamp).alias("synced_at"),
    )
    _insert(cur, "bison_replies", replies)
    _insert(cur, "bison_leads", leads)
    cur.execute(
        "UPDATE bison_leads l SET campaign_status = 'replied', replies = r.n FROM (SELECT workspace_id, lead_id,"
        " count(*) n FROM bison_replies GROUP BY ALL) r WHERE l.workspace_id = r.workspace_id AND l.id = r.lead_id"
    )
    # Tags: one per uploaded batch, as the upload step names them in Email Bison.
    cur.execute(
        "INSERT INTO bison_tags SELECT workspace_id, 7000 + row_number() OVER (ORDER BY id), name, false, ?"
        " FROM batches WHERE status = 'uploaded'",
        [stamp],
    )
    cur.execute(
        "UPDATE batches SET bison_tag_id = t.id FROM bison_tags t WHERE t.workspace_id = batches.workspace_id AND t.name = batches.name"
    )


def sender_emails(cur, rng, ws: pl.DataFrame, camps: pl.DataFrame, stamp) -> None:
    rows, links = [], []
    sid = 20_000
    for w in ws.iter_rows(named=True):
        n = int(np.ceil(int(w["tier"]) * 17.5 / 30))
        first = w["name"].split()[0].lower()
        total_sent = cur.execute(
            "SELECT coalesce(sum(emails_sent), 0) FROM bison_campaigns WHERE workspace_id = ?",
            [w["id"]],
        ).fetchall()[0][0]
        share = rng.dirichlet(np.ones(n) * 8)
        for i in range(n):
            sid += 1
            sent = int(total_sent * share[i])
            # A few accounts in trouble, as an agency would see on a normal day: about one in 200
            # disconnected, and one bouncing account in every fourth client.
            status = "disconnected" if rng.random() < 0.005 else "connected"
            bounce = 0.045 if i == 0 and w["id"] % 4 == 0 else 0.011
            rows.append(
                {
                    "workspace_id": w["id"],
                    "id": sid,
                    "email": f"{first}{i + 1}@{D.SENDER_DOMAINS[i % len(D.SENDER_DOMAINS)]}{w['id']}.com",
                    "name": w["name"].split()[0] + " " + w["name"].split()[1],
                    "type": "Inbox",
                    "status": status,
                    "daily_limit": 30,
                    "warmup_enabled": True,
                    "warmup_score": float(np.round(rng.uniform(62, 100), 1)),
                    "emails_sent_count": sent,
                    "total_replied_count": int(sent * 0.0105 * w["perf"]),
                    "bounced_count": int(rng.binomial(sent, bounce)),
                    "unsubscribed_count": int(sent * 0.0025),
                    "interested_leads_count": int(sent * 0.0019 * w["perf"]),
                    "created_at": stamp - dt.timedelta(days=210),
                    "updated_at": stamp - dt.timedelta(days=1),
                    "synced_at": stamp,
                }
            )
            for c in camps.filter(pl.col("workspace_id") == w["id"]).iter_rows(named=True):
                if c["_share"] >= 0.7 or i % 3 == 0:
                    links.append(
                        {"workspace_id": w["id"], "campaign_id": c["id"], "sender_email_id": sid}
                    )
    _insert(cur, "bison_sender_emails", pl.DataFrame(rows))
    _insert(cur, "bison_campaign_sender_emails", pl.DataFrame(links))
