"""Gap to goal: refined contacts a client's package needs for a renewal month, what it has, the
historical pass rates of each stage, the recommended pull, and ranked ways to close the gap."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from core.pipeline.batching import package_need
from core.pipeline.filters import run_scope
from core.platform import settings
from core.platform.store import Database

DEFAULT_RATES = {"filter": 0.8, "verify": 0.9}
REFINED = ("verified", "batched", "uploaded")


def pass_rates(db: Database, workspace_id: int) -> dict[str, dict[str, Any]]:
    """Output / input of the filter and verify stages over past runs (the client's own when it
    has any, else every client's, else a conservative default). Contacts a stage only carried
    along (already past it before the run, `carried_in`) are left out of both."""
    out: dict[str, dict[str, Any]] = {}
    for stage, default in DEFAULT_RATES.items():
        for who, where, params in (
            ("this client", "r.workspace_id = ? AND", [workspace_id]),
            ("all clients", "", []),
        ):
            row = db.rows(
                f"""SELECT sum(s.input_count - c.carried), sum(s.output_count - c.carried), count(*)
                    FROM pipeline_stage_runs s JOIN pipeline_runs r ON r.id = s.run_id,
                    LATERAL (SELECT coalesce(TRY_CAST(json_extract_string(s.counts, '$.carried_in')
                                                      AS BIGINT), 0) AS carried) c
                    WHERE {where} s.stage = ? AND s.status = 'succeeded'
                      AND s.input_count - c.carried > 0""",
                [*params, stage],
            )[0]
            if row[0]:
                out[stage] = {
                    "rate": row[1] / row[0],
                    "basis": f"{who}, {row[2]} run(s)",
                    "input": int(row[0]),
                }
                break
        else:
            out[stage] = {"rate": default, "basis": "default (no runs yet)", "input": 0}
    return out


def gap_to_goal(db: Database, workspace_id: int, month: dt.date) -> dict[str, Any]:
    need = package_need(db, workspace_id)
    counts = dict(
        db.rows(
            "SELECT status, count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " GROUP BY 1",
            [workspace_id, month],
        )
    )
    raw_pending = int(
        db.scalar(
            "SELECT count(*) FROM contacts c WHERE c.workspace_id = $wid AND c.status = 'raw'"
            f" AND {run_scope(month)}",
            {"wid": workspace_id, "month": month},
        )
        or 0
    )
    refined = sum(int(counts.get(s, 0)) for s in REFINED)
    rates = pass_rates(db, workspace_id)
    pf, pv = rates["filter"]["rate"], rates["verify"]["rate"]
    expected = raw_pending * pf * pv + int(counts.get("filtered", 0)) * pv
    gap = max(0, need - refined)
    open_gap = max(0.0, gap - expected)
    margin = float(settings.get(db, "gap_safety_margin"))
    product = pf * pv
    recommended = math.ceil(open_gap / product * (1 + margin)) if open_gap and product else 0
    arithmetic = (
        f"gap {gap:,} − expected from contacts in hand {expected:,.0f} = {open_gap:,.0f}; "
        f"{open_gap:,.0f} ÷ ({pf:.1%} filter × {pv:.1%} verify = {product:.1%}) "
        f"× (1 + {margin:.0%} margin) = {recommended:,}"
    )
    return {
        "needed": need,
        "refined": refined,
        "gap": gap,
        "raw_pending": raw_pending,
        "filtered_pending": int(counts.get("filtered", 0)),
        "expected_from_pending": round(expected),
        "rates": rates,
        "margin": margin,
        "recommended_pull": recommended,
        "arithmetic": arithmetic,
        "over_target": max(0, refined - need),
    }


def ways_to_close(db: Database, workspace_id: int, month: dt.date) -> pl.DataFrame:
    """Ranked options, each with the refined contacts it would add (estimated)."""
    rates = pass_rates(db, workspace_id)
    pv = rates["verify"]["rate"]
    pf = rates["filter"]["rate"]
    radius = float(settings.get(db, "gap_zip_radius_miles"))
    rows: list[dict[str, Any]] = []
    # Widened filters: contacts the client's own domain rules removed this month.
    for reason, n in db.rows(
        "SELECT reject_reason, count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
        " AND status = 'rejected' AND reject_reason IN ('home value over cap', 'not head of household')"
        " GROUP BY 1",
        [workspace_id, month],
    ):
        rows.append(
            {
                "way": f"Widen the filter: allow '{reason}'",
                "adds": round(n * pv),
                "detail": f"{n:,} rejected this month × {pv:.0%} verify pass",
            }
        )
    # Same-state clients with surplus verified contacts this month.
    for name, surplus in db.rows(
        """SELECT w.name, count(*) FROM contacts c JOIN workspaces w ON w.id = c.workspace_id
           WHERE c.renewal_month = ? AND c.status = 'verified' AND c.batch_id IS NULL
             AND c.workspace_id <> ? AND c.state IN (SELECT unnest(licensed_states) FROM workspaces
                                                     WHERE id = ?)
           GROUP BY 1 ORDER BY 2 DESC LIMIT 5""",
        [month, workspace_id, workspace_id],
    ):
        rows.append(
            {
                "way": f"Move ZIPs from {name} (surplus this month)",
                "adds": int(surplus),
                "detail": "verified contacts above that client's package",
            }
        )
    # Unassigned ZIPs within the radius, in the client's licensed states.
    near = db.rows(
        """WITH mine AS (SELECT z.lat, z.lon FROM zip_assignments a JOIN us_zip_codes z USING (zip)
                         WHERE a.workspace_id = ? AND z.lat IS NOT NULL)
           SELECT count(DISTINCT z.zip) FROM us_zip_codes z, mine m
           WHERE z.zip NOT IN (SELECT zip FROM zip_assignments) AND z.zip_type = 'STANDARD'
             AND z.state IN (SELECT unnest(licensed_states) FROM workspaces WHERE id = ?)
             AND 3959 * 2 * asin(sqrt(pow(sin(radians(z.lat - m.lat) / 2), 2) + cos(radians(m.lat))
                 * cos(radians(z.lat)) * pow(sin(radians(z.lon - m.lon) / 2), 2))) <= ?""",
        [workspace_id, workspace_id, radius],
    )[0][0]
    if near:
        per_zip = (
            db.scalar(
                "SELECT count(*) / greatest(count(DISTINCT zip), 1) FROM contacts WHERE workspace_id = ?"
                " AND renewal_month = ?",
                [workspace_id, month],
            )
            or 0
        )
        rows.append(
            {
                "way": f"Add {near} unassigned ZIP(s) within {radius:g} miles",
                "adds": round(near * float(per_zip) * pf * pv),
                "detail": f"{near} ZIPs × {float(per_zip):.0f} contacts a ZIP × pass rates",
            }
        )
    df = pl.DataFrame(rows, schema={"way": pl.Utf8, "adds": pl.Int64, "detail": pl.Utf8})
    return df.sort("adds", descending=True)


def territory_supply(db: Database, workspace_id: int) -> dict[str, int]:
    """The client's ZIPs and the contacts held in them (the Territories page's "contacts
    available"), and how many of those are not yet in this client's pipeline."""
    row = db.rows(
        """WITH mine AS (SELECT zip FROM zip_assignments WHERE workspace_id = $wid)
           SELECT (SELECT count(*) FROM mine),
                  count(*),
                  count(*) FILTER (WHERE c.workspace_id <> $wid)
           FROM contacts c WHERE c.zip IN (SELECT zip FROM mine)""",
        {"wid": workspace_id},
    )[0]
    return {"zips": int(row[0] or 0), "contacts": int(row[1] or 0), "elsewhere": int(row[2] or 0)}


def capped_plan(
    db: Database, workspace_id: int, month: dt.date, master_available: int | None = None
) -> dict[str, Any]:
    """Gap to goal with the plan capped at what the territory can supply: what is refined, what
    the contacts in hand should still give, and what new contacts in its ZIPs would give (the
    master database's available count when known). When the package needs more, `capped` is
    true, `plan` is the most the territory gives, the pull is cut to match, and `capped_reason`
    says so with the ways to widen it."""
    g = gap_to_goal(db, workspace_id, month)
    t = territory_supply(db, workspace_id)
    pf, pv = g["rates"]["filter"]["rate"], g["rates"]["verify"]["rate"]
    new_contacts = max(int(master_available or 0), 0)
    supply = g["refined"] + g["expected_from_pending"] + math.floor(new_contacts * pf * pv)
    capped = supply < g["needed"]
    plan = min(g["needed"], supply)
    pull = min(g["recommended_pull"], new_contacts) if capped else g["recommended_pull"]
    out = {
        **g,
        "territory_zips": t["zips"],
        "territory_contacts": t["contacts"],
        "master_available": master_available,
        "supply": supply,
        "capped": capped,
        "plan": plan,
        "recommended_pull": pull,
        "capped_reason": None,
    }
    if capped:
        more = (
            f"the master database has {new_contacts:,} more in them"
            if master_available is not None
            else "there is no master database to pull more from"
        )
        out["capped_reason"] = (
            f"The package needs {g['needed']:,} refined contacts for {month:%B %Y}, more than "
            f"this client's territory can supply: its {t['zips']:,} ZIPs hold "
            f"{t['contacts']:,} contacts in all, the ones in hand for {month:%B} should give "
            f"about {g['refined'] + g['expected_from_pending']:,} refined, and {more}. "
            f"The plan is capped at {plan:,}. To supply more, add ZIPs (Territories) or widen "
            "the filters (the ways below)."
        )
        out["arithmetic"] = (
            f"{g['arithmetic']} — capped at {pull:,}, what the territory has left to pull"
        )
    return out
