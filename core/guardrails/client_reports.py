"""Weekly client reports: the numbers, a standalone HTML page (jinja2) and a PDF (fpdf2), e-mailed.

The report covers the last full week (Monday to Sunday before the as-of date): emails sent,
replies, interested replies, the month's interested count against the target and the pacing
line (the Overview board's numbers, one source of truth), the best subject line (Copy Lab) and
the next renewal window with its batch status.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import polars as pl
from fpdf import FPDF

from core import overview
from core.accounts import access
from core.copylab import report as copylab
from core.guardrails import mailer
from core.platform import renewals, settings
from core.platform.scope import Scope
from core.platform.store import Database

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReportError(ValueError):
    pass


def week_bounds(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The last full Monday-to-Sunday week before `as_of`."""
    this_monday = as_of - dt.timedelta(days=as_of.weekday())
    return this_monday - dt.timedelta(days=7), this_monday - dt.timedelta(days=1)


def next_renewal_window(db: Database, workspace_id: int, as_of: dt.date) -> str:
    lead_days = settings.get(db, "campaign_lead_days")
    month = renewals.month_start(as_of)
    for k in range(0, 4):
        for start, end in renewals.renewal_windows(renewals.add_months(month, k)):
            monday = start - dt.timedelta(days=lead_days)
            monday -= dt.timedelta(days=monday.weekday())
            if monday >= as_of:
                status = db.scalar(
                    "SELECT status FROM batches WHERE workspace_id = ? AND window_start = ?",
                    [workspace_id, start],
                )
                return (
                    f"{renewals.batch_name(start, end)}, mailing from Monday {monday:%b} {monday.day}"
                    f" (batch {status or 'not cut yet'})"
                )
    return "none planned"


def report_data(db: Database, workspace_id: int, as_of: dt.date) -> dict[str, Any]:
    ws = db.query(
        "SELECT id, name, contact_email, monthly_target FROM workspaces WHERE id = ?",
        [workspace_id],
    )
    if ws.height == 0:
        raise ReportError(f"Client: no client with id {workspace_id}.")
    w = ws.row(0, named=True)
    start, end = week_bounds(as_of)
    sc = Scope.only([workspace_id])
    sent, replies = db.rows(
        "SELECT coalesce(sum(sent), 0), coalesce(sum(replies), 0) FROM bison_campaign_daily"
        " WHERE workspace_id = ? AND day BETWEEN ? AND ?",
        [workspace_id, start, end],
    )[0]
    interested = db.scalar(
        "SELECT count(*) FROM interested_leads WHERE workspace_id = ? AND interested_at >= ?"
        " AND interested_at < ?",
        [workspace_id, start, end + dt.timedelta(days=1)],
    )
    board = overview.client_board(db, sc, as_of)
    b = board.row(0, named=True) if board.height else {}
    subjects = copylab.subject_stats(db, sc, start=as_of - dt.timedelta(days=28), end=as_of)
    subjects = subjects.filter(pl.col("sent") > 0)
    best = subjects.row(0, named=True) if subjects.height else None
    pace = b.get("pace")
    return {
        "workspace_id": workspace_id,
        "client": w["name"],
        "contact_email": w["contact_email"],
        "week_start": start,
        "week_end": end,
        "week_label": f"Week of {start:%b} {start.day} – {end:%b} {end.day}, {end.year}",
        "as_of_label": f"{as_of:%b} {as_of.day}",
        "generated": f"{as_of:%b} {as_of.day}, {as_of.year}",
        "sent": int(sent),
        "replies": int(replies),
        "interested": int(interested),
        "reply_rate": f"{replies / sent:.2%}" if sent else "–",
        "interested_mtd": int(b.get("interested_mtd") or 0),
        "target": int(b.get("target") or w["monthly_target"]),
        "expected_by_today": f"{b.get('expected_by_today') or 0:.0f}",
        "pace_pct": f"{pace:.0%} of the line" if pace is not None else "no target",
        "status": b.get("status") or "no data",
        "best_subject": best["subject"] if best else None,
        "best_subject_detail": (
            f"{best['interested']} interested from {best['sent']:,} sent in the last 4 weeks"
            if best
            else ""
        ),
        "next_window": next_renewal_window(db, workspace_id, as_of),
        "has_data": bool(sent or replies or interested),
    }


def render_html(data: dict[str, Any]) -> str:
    return _TEMPLATES.get_template("client_report.html").render(r=data)


_LATIN1 = str.maketrans({"–": "-", "—": "-", "“": '"', "”": '"', "’": "'", "…": "...", "·": "-"})


def _t(text: Any) -> str:
    return str(text).translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def render_pdf(data: dict[str, Any]) -> bytes:
    pdf = FPDF(format="Letter")
    pdf.set_title(_t(f"Weekly report - {data['client']}"))
    pdf.set_author("LeadOps")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.multi_cell(0, 9, _t(f"Weekly report - {data['client']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    pdf.set_text_color(107, 114, 128)
    pdf.cell(
        0,
        7,
        _t(f"{data['week_label']} - prepared {data['generated']}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(31, 41, 55)
    pdf.ln(4)
    if not data["has_data"]:
        pdf.multi_cell(
            0,
            6,
            "No emails were sent and no replies arrived for this client in the week. Campaign "
            "numbers will appear here once sending starts.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)
    rows = [
        ("Emails sent", f"{data['sent']:,}"),
        ("Replies", f"{data['replies']:,}"),
        ("Interested (week)", str(data["interested"])),
        ("Interested this month", f"{data['interested_mtd']} / {data['target']}"),
        (
            "Pacing",
            f"{data['status']} - {data['interested_mtd']} against {data['expected_by_today']} "
            f"expected by {data['as_of_label']} ({data['pace_pct']})",
        ),
        ("Reply rate", data["reply_rate"]),
        (
            "Best subject line",
            f'"{data["best_subject"]}" - {data["best_subject_detail"]}'
            if data["best_subject"]
            else "Not enough sends yet to name one.",
        ),
        ("Next renewal window", data["next_window"]),
    ]
    with pdf.table(col_widths=(55, 135), text_align="LEFT", line_height=7) as table:
        for label, value in rows:
            row = table.row()
            row.cell(_t(label))
            row.cell(_t(value))
    pdf.ln(4)
    pdf.set_font("helvetica", "", 9)
    pdf.set_text_color(107, 114, 128)
    pdf.multi_cell(
        0,
        5,
        "Interested replies are counted once per lead, by the date of the first interested reply.",
    )
    return bytes(pdf.output())


def file_stem(data: dict[str, Any]) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in data["client"]).strip("-").lower()
    return f"weekly-report-{safe}-{data['week_start']:%Y%m%d}"


def _targets(db: Database, workspace: str | None) -> pl.DataFrame:
    df = db.query(
        "SELECT id, name, contact_email FROM workspaces WHERE active"
        + (" AND lower(name) = lower(?)" if workspace else "")
        + " ORDER BY name",
        [workspace] if workspace else None,
    )
    if workspace and df.height == 0:
        raise ReportError(f"--workspace: no active client named {workspace!r}.")
    return df


def send_reports(
    db: Database,
    user: access.User,
    *,
    as_of: dt.date | None = None,
    workspace: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> list[dict[str, Any]]:
    """E-mail each active client (or one) its weekly report; once per client and week unless
    `force`. A dry run renders everything and sends nothing. Returns one outcome per client."""
    access.require(user, "reports.send")
    as_of = as_of or dt.datetime.now(ZoneInfo(settings.get(db, "display_timezone"))).date()
    week_start, _ = week_bounds(as_of)
    targets = _targets(db, workspace)
    if not dry_run and not mailer.configured(db):
        raise ReportError("E-mail is not set up: fill smtp_host under Settings → General.")
    out = []
    for w in targets.iter_rows(named=True):
        outcome = {"client": w["name"], "to": w["contact_email"], "week_start": week_start}
        if not w["contact_email"]:
            out.append({**outcome, "status": "skipped", "detail": "no contact e-mail"})
            continue
        already = db.scalar(
            "SELECT count(*) FROM client_report_sends WHERE workspace_id = ? AND week_start = ?"
            " AND status = 'sent'",
            [w["id"], week_start],
        )
        if already and not force:
            out.append({**outcome, "status": "skipped", "detail": "already sent this week"})
            continue
        data = report_data(db, w["id"], as_of)
        html, pdf = render_html(data), render_pdf(data)
        if dry_run:
            out.append(
                {
                    **outcome,
                    "status": "dry run",
                    "detail": f"HTML {len(html):,} B, PDF {len(pdf):,} B",
                }
            )
            continue
        error = None
        try:
            mailer.send(
                db,
                [w["contact_email"]],
                f"Your weekly report: {data['week_label']}",
                f"Hello,\n\nYour weekly LeadOps report for {data['week_label']} is attached.\n\n"
                f"Emails sent: {data['sent']:,}\nReplies: {data['replies']:,}\n"
                f"Interested this week: {data['interested']}\n"
                f"Interested this month: {data['interested_mtd']} of {data['target']}\n",
                html=html,
                attachments=[(f"{file_stem(data)}.pdf", pdf, "application/pdf")],
            )
        except mailer.MailError as exc:
            error = str(exc)
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO client_report_sends (workspace_id, week_start, recipient, status, error, sent_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    w["id"],
                    week_start,
                    w["contact_email"],
                    "failed" if error else "sent",
                    error,
                    user.email,
                ],
            )
        out.append({**outcome, "status": "failed" if error else "sent", "detail": error or ""})
    return out


def reports_due(db: Database, now: dt.datetime | None = None) -> bool:
    """True on the report weekday from the report hour (display time zone) until this week's
    reports have gone out."""
    conf = settings.get_all(db)
    if not conf["client_reports_enabled"] or not mailer.configured(db):
        return False
    local = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(conf["display_timezone"]))
    if (
        WEEKDAYS[local.weekday()] != conf["client_report_weekday"]
        or local.hour < conf["client_report_hour"]
    ):
        return False
    week_start, _ = week_bounds(local.date())
    pending = db.scalar(
        "SELECT count(*) FROM workspaces w WHERE w.active AND coalesce(w.contact_email, '') <> ''"
        " AND NOT EXISTS (SELECT 1 FROM client_report_sends s WHERE s.workspace_id = w.id"
        " AND s.week_start = ?)",
        [week_start],
    )
    return bool(pending)


def sends(db: Database, scope: Scope, *, limit: int = 200) -> pl.DataFrame:
    return db.query(
        f"SELECT s.sent_at, w.name AS client, s.week_start, s.recipient, s.status, s.error, s.sent_by"
        f" FROM client_report_sends s JOIN workspaces w ON w.id = s.workspace_id"
        f" WHERE {scope.filter('s.workspace_id')} ORDER BY s.id DESC LIMIT ?",
        [limit],
    )
