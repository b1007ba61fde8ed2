"""Guardrails: run every check over every client, keep alerts open/resolved, act and notify.

A run computes all findings (core/guardrails/checks.py, one set-based query per check), then in one
transaction opens an alert for each new problem, refreshes the ones still found (last seen,
numbers) and resolves the ones no longer found. Newly opened campaign bounce alerts of clients
with `guard_auto_pause` on pause the campaign through Email Bison (audited). Then the delivery
step sends one message per alert and channel when it opens and one when it resolves.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import traceback
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from core import overview
from core.accounts import access
from core.guardrails.checks import CHECKS, GUARD_SETTINGS, SEVERITIES
from core.platform import audit, periods, settings
from core.platform.scope import Scope
from core.platform.store import Database

SYSTEM_USER = access.User(email="system:guardrails", role="admin", name="Guardrails")
FINDING_SCHEMA = {
    "check_name": pl.Utf8,
    "workspace_id": pl.Int32,
    "severity": pl.Utf8,
    "subject_kind": pl.Utf8,
    "subject_id": pl.Utf8,
    "subject_name": pl.Utf8,
    "title": pl.Utf8,
    "explanation": pl.Utf8,
    "metric": pl.Float64,
    "threshold": pl.Float64,
}


class GuardrailError(ValueError):
    """Bad input to a guardrail action; the message names the field."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- thresholds -------------------------------------------------------------------------------


def overrides(db: Database, scope: Scope | None = None) -> pl.DataFrame:
    sc = scope or Scope.all()
    return db.query(
        "SELECT o.workspace_id, w.name AS client, o.setting, CAST(o.value AS VARCHAR) AS value,"
        " o.updated_at, o.updated_by FROM guardrail_overrides o JOIN workspaces w ON w.id = o.workspace_id"
        f" WHERE {sc.filter('o.workspace_id')} ORDER BY w.name, o.setting"
    )


def set_override(
    db: Database, user: access.User, workspace_id: int, setting: str, value: Any
) -> Any:
    """Give one client its own threshold (None removes it, back to the default)."""
    access.require(user, "alerts.configure")
    if setting not in GUARD_SETTINGS:
        raise GuardrailError(
            f"Setting: {setting!r} is not a guardrail threshold; one of {', '.join(GUARD_SETTINGS)}."
        )
    if not db.scalar("SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]):
        raise GuardrailError(f"Client: no client with id {workspace_id}.")
    v = None if value is None else settings.coerce(settings.REGISTRY[setting], value)
    before = db.scalar(
        "SELECT CAST(value AS VARCHAR) FROM guardrail_overrides WHERE workspace_id = ? AND setting = ?",
        [workspace_id, setting],
    )
    with db.transaction() as cur:
        if v is None:
            cur.execute(
                "DELETE FROM guardrail_overrides WHERE workspace_id = ? AND setting = ?",
                [workspace_id, setting],
            )
        else:
            cur.execute(
                "INSERT INTO guardrail_overrides (workspace_id, setting, value, updated_by) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (workspace_id, setting) DO UPDATE SET value = excluded.value,"
                " updated_at = now(), updated_by = excluded.updated_by",
                [workspace_id, setting, json.dumps(v), user.email],
            )
        audit.record(
            cur,
            actor=user.email,
            action="guardrail.override",
            entity="workspace",
            entity_id=f"{workspace_id}:{setting}",
            before=None if before is None else json.loads(before),
            after=v,
        )
    return v


def thresholds(db: Database) -> pl.DataFrame:
    """One row per active client: every guardrail threshold in force, and its package plan."""
    conf = settings.get_all(db)
    ws = db.query(
        "SELECT w.id AS workspace_id, w.tier, coalesce(t.emails_per_day, 0) AS plan_per_day"
        " FROM workspaces w LEFT JOIN package_tiers t USING (tier) WHERE w.active ORDER BY w.id"
    )
    own: dict[tuple[int, str], Any] = {}
    for wid, name, raw in db.rows("SELECT workspace_id, setting, value FROM guardrail_overrides"):
        if name in settings.REGISTRY:
            own[(wid, name)] = settings.coerce(settings.REGISTRY[name], json.loads(raw))
    cols: dict[str, list[Any]] = {name: [] for name in GUARD_SETTINGS}
    for wid in ws["workspace_id"].to_list():
        for name in GUARD_SETTINGS:
            cols[name].append(own.get((wid, name), conf[name]))
    types = {
        n: (
            pl.Boolean
            if settings.REGISTRY[n].type is bool
            else pl.Int32
            if settings.REGISTRY[n].type is int
            else pl.Float64
        )
        for n in GUARD_SETTINGS
    }
    return ws.with_columns(pl.Series(n, cols[n], dtype=types[n]) for n in GUARD_SETTINGS)


# -- running the checks -----------------------------------------------------------------------


def _kpi_pacing(db: Database, th: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """KPI pacing reuses the Overview board (one source of truth), with each client's ratios."""
    board = overview.client_board(db, Scope.all(), now.date())
    if board.height == 0:
        return pl.DataFrame(schema={k: v for k, v in FINDING_SCHEMA.items() if k != "check_name"})
    df = board.join(
        th.select(
            "workspace_id", "kpi_warning_ratio", "kpi_danger_ratio", "guard_pacing_grace_days"
        ),
        on="workspace_id",
    ).filter(
        (pl.col("guard_pacing_grace_days") < now.day)
        & (pl.col("expected_by_today") > 0)
        & (pl.col("interested_mtd") < pl.col("expected_by_today") * pl.col("kpi_warning_ratio"))
    )
    rows = []
    for r in df.iter_rows(named=True):
        pace = r["interested_mtd"] / r["expected_by_today"]
        danger = pace < r["kpi_danger_ratio"]
        rows.append(
            {
                "workspace_id": r["workspace_id"],
                "severity": "danger" if danger else "warning",
                "subject_kind": "client",
                "subject_id": None,
                "subject_name": None,
                "title": f"KPI pacing {pace:.0%} of expected",
                "explanation": (
                    f"{r['interested_mtd']} interested replies this month against "
                    f"{r['expected_by_today']:.1f} expected by today (target {r['target']} a month): "
                    f"{pace:.0%}, below the {r['kpi_warning_ratio']:.0%} warning line"
                    + (f" and the {r['kpi_danger_ratio']:.0%} danger line." if danger else ".")
                ),
                "metric": pace,
                "threshold": r["kpi_warning_ratio"],
            }
        )
    return pl.DataFrame(
        rows, schema={k: v for k, v in FINDING_SCHEMA.items() if k != "check_name"}, orient="row"
    )


def compute_findings(
    db: Database, now: dt.datetime | None = None, *, only: list[str] | None = None
) -> tuple[pl.DataFrame, list[str], dict[str, str]]:
    """All findings of every check (or `only` these), the checks that ran, and their errors."""
    now = now or _now()
    th = thresholds(db)
    # Per-day figures use the Overview's window: the last 7 complete days of the display day.
    local_day = now.astimezone(ZoneInfo(settings.get(db, "display_timezone"))).date()
    week = periods.last_7_days(local_day)
    params = {
        "now": now,
        "today": now.astimezone(dt.UTC).date(),
        "stale_hours": settings.get(db, "guard_sync_stale_hours"),
        "w7_start": week.start,
        "w7_end": week.end,
        "w7_span": week.span,
    }
    sent = overview.sent_per_day(db, Scope.all(), local_day)
    frames, ran, errors = [], [], {}
    with db.cursor() as cur:
        cur.register("guard_th", th.to_arrow())
        cur.register("guard_sent", sent.to_arrow())
        for name, check in CHECKS.items():
            if only and name not in only:
                continue
            try:
                if check.sql:
                    used = {k: v for k, v in params.items() if f"${k}" in check.sql}
                    df = cur.sql(check.sql, params=used or None).pl()
                elif name == "next_month_ready":
                    from core.guardrails.checks_daily import next_month_readiness

                    df = next_month_readiness(db, th, now)
                else:
                    df = _kpi_pacing(db, th, now)
            except Exception as exc:  # one broken check must not silence the others
                errors[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                continue
            ran.append(name)
            if df.height:
                frames.append(
                    df.with_columns(pl.lit(name).alias("check_name")).select(
                        [pl.col(c).cast(t) for c, t in FINDING_SCHEMA.items()]
                    )
                )
        cur.unregister("guard_th")
        cur.unregister("guard_sent")
    found = (pl.concat(frames) if frames else pl.DataFrame(schema=FINDING_SCHEMA)).with_columns(
        pl.concat_str(
            [
                pl.col("check_name"),
                pl.col("workspace_id").cast(pl.Utf8).fill_null(""),
                pl.col("subject_kind"),
                pl.col("subject_id").fill_null(""),
            ],
            separator=":",
        ).alias("alert_key")
    )
    from core.guardrails.checks_daily import quiet_while_setting_up

    found = quiet_while_setting_up(db, found, now)
    return found.unique("alert_key", keep="first", maintain_order=True), ran, errors


def _snapshot_senders(cur: Any, today: dt.date) -> None:
    cur.execute(
        "INSERT INTO sender_email_snapshots SELECT workspace_id, id, ?, emails_sent_count, bounced_count,"
        " unsubscribed_count FROM bison_sender_emails ON CONFLICT DO NOTHING",
        [today],
    )


def run_checks(
    db: Database,
    *,
    now: dt.datetime | None = None,
    triggered_by: str = "system",
    deliver: bool = True,
    client_factory: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Run every check, update the alerts, auto-pause where asked, and send the messages."""
    from core.guardrails import delivery as alert_delivery

    now = now or _now()
    t0 = time.perf_counter()
    found, ran, errors = compute_findings(db, now)
    with db.transaction() as cur:
        run_id = cur.execute(
            "INSERT INTO check_runs (started_at, triggered_by) VALUES (?, ?) RETURNING id",
            [now, triggered_by],
        ).fetchall()[0][0]
        cur.register("found", found.to_arrow())
        cur.execute(
            "UPDATE alerts SET last_seen = $now, severity = f.severity, title = f.title,"
            " explanation = f.explanation || coalesce(' ' || alerts.auto_action, ''), metric = f.metric, threshold = f.threshold,"
            " subject_name = f.subject_name"
            " FROM found f WHERE alerts.alert_key = f.alert_key AND alerts.status = 'open'",
            {"now": now},
        )
        opened = cur.execute(
            "INSERT INTO alerts (alert_key, check_name, severity, workspace_id, subject_kind, subject_id,"
            " subject_name, title, explanation, metric, threshold, first_seen, last_seen)"
            " SELECT alert_key, check_name, severity, workspace_id, subject_kind, subject_id, subject_name,"
            " title, explanation, metric, threshold, $now, $now FROM found f"
            " WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_key = f.alert_key AND a.status = 'open')"
            " RETURNING id, check_name, workspace_id, subject_id",
            {"now": now},
        ).fetchall()
        resolved = cur.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = $now"
            " WHERE status = 'open' AND list_contains($ran, check_name)"
            " AND alert_key NOT IN (SELECT alert_key FROM found) RETURNING id",
            {"now": now, "ran": ran},
        ).fetchall()
        events = [(r[0], "opened") for r in opened] + [(r[0], "resolved") for r in resolved]
        if events:
            cur.executemany(
                "INSERT INTO alert_events (alert_id, happened_at, kind, actor) VALUES (?, ?, ?, 'system:guardrails')",
                [[aid, now, kind] for aid, kind in events],
            )
        _snapshot_senders(cur, now.astimezone(dt.UTC).date())
        cur.unregister("found")
    paused = _auto_pause(db, [r for r in opened if r[1] == "campaign_bounce_rate"], client_factory)
    paused += _auto_pause_senders(
        db, [r for r in opened if r[1] == "sender_bounce_rate"], client_factory
    )
    sent = alert_delivery.deliver_pending(db) if deliver else {"sent": 0, "failed": 0}
    seconds = round(time.perf_counter() - t0, 3)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE check_runs SET finished_at = ?, findings = ?, opened = ?, resolved = ?, messages = ?,"
            " seconds = ?, error = ? WHERE id = ?",
            [
                _now(),
                found.height,
                len(opened),
                len(resolved),
                sent["sent"],
                seconds,
                "; ".join(f"{k}: {v}" for k, v in errors.items()) or None,
                run_id,
            ],
        )
    return {
        "findings": found.height,
        "opened": len(opened),
        "resolved": len(resolved),
        "open": int(db.scalar("SELECT count(*) FROM alerts WHERE status = 'open'")),
        "auto_paused": paused,
        "messages_sent": sent["sent"],
        "messages_failed": sent["failed"],
        "errors": errors,
        "seconds": seconds,
    }


def _record_auto_action(db: Database, alert_id: int, kind: str, note: str) -> None:
    """What an automatic action did, on the alert (its explanation says it) and in its events."""
    with db.transaction() as cur:
        cur.execute(
            "UPDATE alerts SET auto_action = ?, explanation = explanation || ' ' || ? WHERE id = ?",
            [note, note, alert_id],
        )
        cur.execute(
            "INSERT INTO alert_events (alert_id, kind, actor, note) VALUES (?, ?, ?, ?)",
            [alert_id, kind, SYSTEM_USER.email, note],
        )


def _auto_pause(
    db: Database, opened: list[tuple], client_factory: Callable[[str], Any] | None
) -> int:
    """Pause the campaigns of newly opened bounce alerts whose client has auto-pause on."""
    if not opened:
        return 0
    from core.campaigns import campaigns

    th = thresholds(db)
    on = set(th.filter(pl.col("guard_auto_pause"))["workspace_id"].to_list())
    done = 0
    for alert_id, _, wid, subject_id in opened:
        if wid not in on:
            continue
        cid = int(subject_id)
        status = db.scalar(
            "SELECT status FROM bison_campaigns WHERE workspace_id = ? AND id = ?", [wid, cid]
        )
        if status != "active":
            continue
        try:
            campaigns.campaign_action(
                db, SYSTEM_USER, wid, cid, "pause", client_factory=client_factory
            )
            note, kind = (
                "Paused the campaign in Email Bison (guard_auto_pause is on).",
                "auto_paused",
            )
            done += 1
        except Exception as exc:  # said in the alert; the alert itself still goes out
            note, kind = f"Automatic pause failed: {exc}", "auto_pause_failed"
        _record_auto_action(db, alert_id, kind, note)
    return done


def _auto_pause_senders(
    db: Database, opened: list[tuple], client_factory: Callable[[str], Any] | None
) -> int:
    """Pause the sending accounts of newly opened bounce alerts whose client asked for it."""
    if not opened:
        return 0
    from core.campaigns import inboxes

    th = thresholds(db)
    on = set(th.filter(pl.col("guard_auto_pause_senders"))["workspace_id"].to_list())
    done = 0
    for alert_id, _, wid, subject_id in opened:
        if wid not in on:
            continue
        try:
            result = inboxes.inbox_action(
                db,
                SYSTEM_USER,
                [(wid, int(subject_id))],
                "pause",
                reason=f"bounce rate alert {alert_id}",
                client_factory=client_factory,
            )
        except Exception as exc:  # said in the alert; the alert itself still goes out
            note, kind = f"Automatic pause failed: {exc}", "auto_pause_failed"
        else:
            if result.failed:
                note, kind = (
                    f"Automatic pause failed: {'; '.join(result.failed)}",
                    "auto_pause_failed",
                )
            elif result.changed:
                note, kind = (
                    "Paused the sending account (daily limit 0 in Email Bison; Resume on the "
                    "Sending accounts page puts its limit back).",
                    "auto_paused",
                )
                done += 1
            else:
                continue  # already paused
        _record_auto_action(db, alert_id, kind, note)
    return done


def last_run(db: Database) -> dict[str, Any] | None:
    df = db.query("SELECT * FROM check_runs ORDER BY id DESC LIMIT 1")
    return df.row(0, named=True) if df.height else None


def checks_due(db: Database) -> bool:
    """True when a sync has succeeded since the last check run (the scheduler then runs them)."""
    last_sync = db.scalar("SELECT max(finished_at) FROM sync_runs WHERE status = 'succeeded'")
    if last_sync is None:
        return False
    last_check = db.scalar("SELECT max(started_at) FROM check_runs")
    return last_check is None or last_sync > last_check


# -- alerts: reading, acknowledging, snoozing -------------------------------------------------

_SEV_ORDER = "CASE a.severity WHEN 'danger' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


def open_alerts(
    db: Database, scope: Scope, *, include_snoozed: bool = False, now: dt.datetime | None = None
) -> pl.DataFrame:
    cond = "" if include_snoozed else " AND (a.snoozed_until IS NULL OR a.snoozed_until <= $now)"
    return db.query(
        f"""
        SELECT a.id, a.severity, w.name AS client, c.label AS "check", a.title, a.explanation,
               a.first_seen, a.last_seen, a.acknowledged_by, a.ack_reason, a.snoozed_until,
               a.snoozed_by, a.snooze_reason, a.auto_action, a.workspace_id, a.check_name,
               a.subject_id
        FROM alerts a LEFT JOIN workspaces w ON w.id = a.workspace_id
        LEFT JOIN (SELECT unnest($names) AS check_name, unnest($labels) AS label) c USING (check_name)
        WHERE a.status = 'open' AND {scope.filter("a.workspace_id")}{cond}
        ORDER BY {_SEV_ORDER}, w.name, a.first_seen
        """,
        {"names": list(CHECKS), "labels": [c.label for c in CHECKS.values()]}
        | ({} if include_snoozed else {"now": now or _now()}),
    )


def open_count(db: Database, scope: Scope) -> dict[str, int]:
    rows = db.rows(
        f"SELECT severity, count(*) FROM alerts WHERE status = 'open' AND {scope.filter()}"
        " AND (snoozed_until IS NULL OR snoozed_until <= now()) GROUP BY ALL"
    )
    out = {s: 0 for s in SEVERITIES}
    out.update({s: int(n) for s, n in rows})
    return out


def open_by_client(db: Database, scope: Scope) -> pl.DataFrame:
    """Open (not snoozed) alerts per client and severity, worst first."""
    return db.query(
        f"""
        SELECT coalesce(w.name, 'Agency') AS client,
               count(*) FILTER (WHERE a.severity = 'danger') AS danger,
               count(*) FILTER (WHERE a.severity = 'warning') AS warning,
               count(*) FILTER (WHERE a.severity = 'info') AS info,
               count(*) FILTER (WHERE a.acknowledged_by IS NOT NULL) AS acknowledged
        FROM alerts a LEFT JOIN workspaces w ON w.id = a.workspace_id
        WHERE a.status = 'open' AND {scope.filter("a.workspace_id")}
          AND (a.snoozed_until IS NULL OR a.snoozed_until <= now())
        GROUP BY ALL ORDER BY danger DESC, warning DESC, client
        """
    )


def history(db: Database, scope: Scope, *, limit: int = 500) -> pl.DataFrame:
    return db.query(
        f"""
        SELECT e.happened_at, e.kind AS event, a.severity, w.name AS client, a.title, e.actor, e.note,
               a.status AS alert_status, a.id AS alert_id
        FROM alert_events e JOIN alerts a ON a.id = e.alert_id
        LEFT JOIN workspaces w ON w.id = a.workspace_id
        WHERE {scope.filter("a.workspace_id")}
        ORDER BY e.id DESC LIMIT $n
        """,
        {"n": limit},
    )


def _alert_in_scope(db: Database, user: access.User, alert_id: int) -> dict[str, Any]:
    df = db.query(
        "SELECT id, workspace_id, status, acknowledged_by, snoozed_until FROM alerts WHERE id = ?",
        [alert_id],
    )
    if df.height == 0:
        raise GuardrailError(f"Alert: no alert {alert_id}.")
    row = df.row(0, named=True)
    if row["workspace_id"] is not None and not user.scope.allows(row["workspace_id"]):
        raise GuardrailError("Alert: it belongs to a client you cannot act for.")
    return row


def acknowledge(db: Database, user: access.User, alert_id: int, reason: str) -> None:
    access.require(user, "alerts.ack")
    reason = (reason or "").strip()
    if not reason:
        raise GuardrailError("Reason: say why the alert is acknowledged.")
    before = _alert_in_scope(db, user, alert_id)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = now(), ack_reason = ? WHERE id = ?",
            [user.email, reason[:500], alert_id],
        )
        cur.execute(
            "INSERT INTO alert_events (alert_id, kind, actor, note) VALUES (?, 'acknowledged', ?, ?)",
            [alert_id, user.email, reason[:500]],
        )
        audit.record(
            cur,
            actor=user.email,
            action="alert.acknowledge",
            entity="alert",
            entity_id=alert_id,
            before={"acknowledged_by": before["acknowledged_by"]},
            after={"acknowledged_by": user.email, "reason": reason[:500]},
        )


def snooze(db: Database, user: access.User, alert_id: int, until: dt.datetime, reason: str) -> None:
    access.require(user, "alerts.ack")
    reason = (reason or "").strip()
    if not reason:
        raise GuardrailError("Reason: say why the alert is snoozed.")
    if until.tzinfo is None:
        raise GuardrailError("Until: give a time with its time zone.")
    if until <= _now():
        raise GuardrailError("Until: pick a time in the future.")
    before = _alert_in_scope(db, user, alert_id)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE alerts SET snoozed_by = ?, snoozed_until = ?, snooze_reason = ? WHERE id = ?",
            [user.email, until, reason[:500], alert_id],
        )
        cur.execute(
            "INSERT INTO alert_events (alert_id, kind, actor, note) VALUES (?, 'snoozed', ?, ?)",
            [alert_id, user.email, f"until {until:%Y-%m-%d %H:%M %Z}: {reason[:500]}"],
        )
        audit.record(
            cur,
            actor=user.email,
            action="alert.snooze",
            entity="alert",
            entity_id=alert_id,
            before={"snoozed_until": before["snoozed_until"]},
            after={"snoozed_until": until, "reason": reason[:500]},
        )
