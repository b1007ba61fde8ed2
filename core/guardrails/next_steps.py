"""What to do about each alert, and where: one next step per check, in plain words, with the
page (pages/<page>.py) and tab that fix it. Failed unattended work points at the page of the
work that failed."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Step:
    text: str
    page: str | None  # pages/<page>.py; None: nowhere in particular
    where: str  # that place in words
    tab: str | None = None


CAMPAIGNS = "campaigns"
SENDERS = "sending_accounts"
STEPS: dict[str, Step] = {
    "campaign_bounce_rate": Step(
        "Pause the campaign, then check its list and its sending accounts", CAMPAIGNS, "Campaigns"
    ),
    "campaign_unsubscribe_rate": Step(
        "Review the campaign's copy and list; pause it if the rate keeps rising",
        CAMPAIGNS,
        "Campaigns",
    ),
    "sender_bounce_rate": Step(
        "Pause the account (or lower its daily limit), then check its domain",
        SENDERS,
        "Sending accounts",
    ),
    "sender_unsubscribe_rate": Step(
        "Take the account out of its campaigns and review the copy it sends",
        SENDERS,
        "Sending accounts",
    ),
    "campaign_not_sending": Step(
        "Fix what the reason names on the campaign (sequence, accounts, leads or schedule)",
        CAMPAIGNS,
        "Campaigns",
    ),
    "leads_running_out": Step(
        "Upload the next renewal batch", "pipeline", "Pipeline → Batches", "Batches"
    ),
    "renewal_batch_late": Step(
        "Run the pipeline for that month and upload the batch", "pipeline", "Pipeline → Run", "Run"
    ),
    "kpi_pacing": Step(
        "See which campaigns fall behind, then check sending and replies", CAMPAIGNS, "Campaigns"
    ),
    "sender_disconnected_in_use": Step(
        "Reconnect the account in Email Bison or detach it from its campaigns",
        SENDERS,
        "Sending accounts",
    ),
    "sender_unused": Step(
        "Attach the account to an active campaign, or retire it", SENDERS, "Sending accounts"
    ),
    "sending_below_plan": Step(
        "Add or reconnect sending accounts, or raise their daily limits",
        SENDERS,
        "Sending accounts",
    ),
    "sync_stale": Step("Sync now and read the error of the last run", "data_sync", "Data sync"),
    "interested_mismatch": Step(
        "Sync again; if it stays, compare the interested replies in Email Bison",
        "data_sync",
        "Data sync",
    ),
    "debounce_credits_low": Step(
        "Buy Debounce credits before the next runs; the balance shows on the Pipeline page",
        "pipeline",
        "Pipeline",
    ),
    "webhook_folder_full": Step(
        "Check that the LeadOps server runs and syncs", "data_sync", "Data sync"
    ),
    "no_sending_today": Step(
        "Check the campaigns' schedules and sending accounts", CAMPAIGNS, "Campaigns"
    ),
    "next_month_ready": Step(
        "Pull or import contacts and run the pipeline",
        "pipeline",
        "Pipeline → Gap to goal",
        "Gap to goal",
    ),
    "invoice_overdue": Step("Ask the client to pay; the bill is on Revenue", "revenue", "Revenue"),
}
# Failed unattended work, by the job kind (the alert's subject).
JOB_STEPS: dict[str, Step] = {
    "sync.bison": Step("Read the error and sync again", "data_sync", "Data sync"),
    "sync.stripe": Step("Read the error and sync Stripe again", "revenue", "Revenue"),
    "crm.deliver": Step("Read the error and retry the deliveries", "client_leads", "Client leads"),
    "pipeline.process_all": Step(
        "Read each client's reason and run it again", "pipeline", "Pipeline → Run", "Run"
    ),
    "pipeline.evergreen": Step(
        "Read the error and run the evergreen step again", "pipeline", "Pipeline → Run", "Run"
    ),
    "reports.send": Step(
        "Read the error and send the reports again",
        "alerts",
        "Alerts → Client reports",
        "Client reports",
    ),
}
READ = Step("Read the explanation", None, "")


def step_for(check_name: str, subject_id: str | None = None) -> Step:
    """The next step of an alert of `check_name` about `subject_id`."""
    if check_name == "job_failed":
        return JOB_STEPS.get(subject_id or "", READ)
    return STEPS.get(check_name, READ)


def with_steps(alerts: pl.DataFrame) -> pl.DataFrame:
    """Open alerts (with `check_name` and `subject_id`, as `open_alerts` reads them) with their
    next step: `next_step`, `fix_page`, `fix_where`, `fix_tab`."""
    subjects = alerts["subject_id"] if "subject_id" in alerts.columns else [None] * alerts.height
    steps = [step_for(c, s) for c, s in zip(alerts["check_name"], subjects, strict=True)]
    return alerts.with_columns(
        pl.Series("next_step", [s.text for s in steps], dtype=pl.Utf8),
        pl.Series("fix_page", [s.page for s in steps], dtype=pl.Utf8),
        pl.Series("fix_where", [s.where for s in steps], dtype=pl.Utf8),
        pl.Series("fix_tab", [s.tab for s in steps], dtype=pl.Utf8),
    )
