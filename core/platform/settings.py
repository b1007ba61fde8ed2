"""The settings registry: every operator-editable setting with its type, default and help.

Values live in the `settings` table; anything not set there takes its default. Environment
variables (`LEADOPS_*`) configure the process and are documented in README.md; these settings
are the ones staff change from the Settings page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.platform import audit
from core.platform.addresses import parse_database_url, parse_http_url
from core.platform.store import Database


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    parse: Callable[[Any], Any] | None = None  # checks (and reads) the value; raises ValueError


def parse_source_prices(value: str) -> dict[str, int]:
    """'master_db=800, import=1200' -> {'master_db': 800, 'import': 1200} (cents per 1,000)."""
    out: dict[str, int] = {}
    for n, part in enumerate(p.strip() for p in str(value or "").split(",")):
        if not part:
            continue
        name, sep, price = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"entry {n + 1} ({part!r}) must look like source=cents")
        try:
            cents = int(price.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"entry {n + 1}: price {price.strip()!r} is not whole cents") from None
        if cents < 0:
            raise ValueError(f"entry {n + 1}: price must not be negative")
        out[name.strip()] = cents
    return out


REGISTRY: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting(
            "kpi_warning_ratio",
            float,
            0.9,
            "A client whose interested replies month-to-date are below this share of the "
            "expected-by-today line is flagged 'warning'.",
            0.0,
            1.0,
        ),
        Setting(
            "kpi_danger_ratio",
            float,
            0.7,
            "Below this share of the expected-by-today line a client is flagged 'danger'.",
            0.0,
            1.0,
        ),
        Setting(
            "default_home_value_cap",
            int,
            900_000,
            "Home value cap in dollars for new clients; contacts above it are filtered out "
            "(or moved to a high-net-worth client).",
            0,
            100_000_000,
        ),
        Setting(
            "source_row_limit",
            int,
            10_000,
            "Most rows one lead-list source query may return; larger ZIP lists are pulled in chunks.",
            1,
            10_000_000,
        ),
        Setting(
            "import_excel_max_mb",
            int,
            100,
            "Largest Excel workbook, unzipped, that an import reads (MB); a larger one is refused "
            "(save the sheet as CSV instead). Guards against zip bombs.",
            1,
            2_000,
        ),
        Setting(
            "import_excel_max_rows",
            int,
            500_000,
            "Most rows an import reads from an Excel workbook; a longer sheet is refused.",
            1,
            1_048_576,
        ),
        Setting(
            "campaign_lead_days",
            int,
            30,
            "Days before a policy's renewal date that its campaign should start (28-34 is usual).",
            1,
            120,
        ),
        Setting(
            "bison_sync_interval_minutes",
            int,
            15,
            "How often the app syncs Email Bison in the background.",
            1,
            1440,
        ),
        Setting(
            "bison_sync_concurrency",
            int,
            4,
            "How many client workspaces an Email Bison sync fetches at once to begin with; "
            "while Email Bison's limit leaves room to go faster it fetches more, up to 16.",
            1,
            16,
        ),
        Setting(
            "bison_rate_limit_per_sec",
            float,
            0.0,
            "Requests a second the Email Bison instance allows, all clients together. A sync "
            "paces itself to use all of it and no more. 0 = not known: the sync finds it, "
            "slowing down whenever Email Bison asks it to wait and speeding up again after.",
            0.0,
            10_000.0,
        ),
        Setting(
            "bison_daily_backfill_days",
            int,
            90,
            "Days of per-day campaign stats a first (or full) Email Bison sync fetches.",
            1,
            730,
        ),
        Setting(
            "bison_stats_backfill_days",
            int,
            7,
            "Days of per-step/variant stats a first (or full) sync fetches, one request per campaign and day.",
            1,
            90,
        ),
        Setting(
            "webhook_folder_max_mb",
            int,
            200,
            "Most megabytes of Email Bison webhook events waiting in the inbox folder; beyond it "
            "the receiver answers 503 with Retry-After and the Alerts page says so. The "
            "receiver learns a change at the next sync.",
            1,
            100_000,
        ),
        Setting(
            "webhook_retention_days",
            int,
            30,
            "Days a webhook event file set aside as unreadable (webhooks/rejected/) is kept "
            "before it is deleted; the stored events stay in bison_webhook_events.",
            1,
            3650,
        ),
        # -- guardrails (each overridable per client) --
        Setting(
            "guard_bounce_rate",
            float,
            0.03,
            "Bounces per email sent over the rolling window above which a campaign or sending "
            "account is flagged.",
            0.0,
            1.0,
        ),
        Setting(
            "guard_unsubscribe_rate",
            float,
            0.01,
            "Unsubscribes per email sent over the rolling window above which a campaign or "
            "sending account is flagged.",
            0.0,
            1.0,
        ),
        Setting(
            "guard_rate_window_days",
            int,
            7,
            "Days in the rolling window of the bounce and unsubscribe checks.",
            1,
            90,
        ),
        Setting(
            "guard_rate_min_sends",
            int,
            200,
            "Emails sent in the window before a bounce or unsubscribe rate may raise an alert.",
            1,
            1_000_000,
        ),
        Setting(
            "guard_auto_pause",
            bool,
            False,
            "Pause a campaign in Email Bison by itself when its bounce rate alert opens "
            "(audited, and said in the alert).",
        ),
        Setting(
            "guard_auto_pause_senders",
            bool,
            False,
            "Pause a sending account by itself (daily limit 0 in Email Bison, the old limit kept "
            "for Resume) when its bounce rate alert opens (audited, and said in the alert).",
        ),
        Setting(
            "guard_not_sending_hours",
            int,
            24,
            "Hours without a send after which an active campaign is flagged as not sending.",
            1,
            720,
        ),
        Setting(
            "guard_leads_days_left",
            int,
            7,
            "Flag a client whose uncontacted leads last fewer days than this at the current pace.",
            0,
            365,
        ),
        Setting(
            "guard_batch_notice_days",
            int,
            2,
            "Days before its Monday that a renewal batch not yet uploaded is flagged.",
            0,
            14,
        ),
        Setting(
            "guard_pacing_grace_days",
            int,
            3,
            "Days at the start of a month in which KPI pacing does not alert (a handful of "
            "replies decides the ratio then).",
            0,
            27,
        ),
        Setting(
            "guard_sender_unused_days",
            int,
            7,
            "Days without a send after which a connected sending account is flagged as unused.",
            1,
            365,
        ),
        Setting(
            "guard_plan_use_ratio",
            float,
            0.5,
            "Flag a client whose emails sent a day (7-day average) fall below this share of the "
            "package's plan.",
            0.0,
            1.0,
        ),
        Setting(
            "guard_invoice_due_days",
            int,
            30,
            "Days after it is issued that a client's Stripe invoice is due; an open one past it "
            "is flagged (danger at twice as long).",
            1,
            365,
        ),
        Setting(
            "guard_sync_stale_hours",
            int,
            6,
            "Hours after which a sync source with no successful run is flagged.",
            1,
            720,
        ),
        Setting(
            "guard_interested_mismatch",
            int,
            5,
            "Interested replies by which the campaigns' own count may differ from the replies "
            "before the numbers are flagged as disagreeing.",
            0,
            100_000,
        ),
        # -- alert e-mail and client reports --
        Setting(
            "smtp_host",
            str,
            "",
            "SMTP server for alert e-mails and client reports (empty: e-mail is off). The "
            "password is kept in the secret store as smtp.password.",
        ),
        Setting("smtp_port", int, 587, "SMTP server port.", 1, 65535),
        Setting(
            "smtp_security",
            str,
            "starttls",
            "SMTP connection security: starttls, ssl or none.",
            choices=("starttls", "ssl", "none"),
        ),
        Setting("smtp_username", str, "", "SMTP user name (empty: no login)."),
        Setting(
            "smtp_from",
            str,
            "leadops@localhost",
            "Sender address of alert e-mails and client reports.",
        ),
        Setting(
            "client_reports_enabled",
            bool,
            False,
            "Send each client its weekly report by e-mail on the report weekday.",
        ),
        Setting(
            "client_report_weekday",
            str,
            "monday",
            "Weekday on which weekly client reports are sent.",
            choices=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        ),
        Setting(
            "client_report_hour",
            int,
            8,
            "Hour of the day (display time zone) from which weekly client reports are sent.",
            0,
            23,
        ),
        Setting(
            "stripe_sync_interval_minutes",
            int,
            60,
            "How often the app syncs Stripe in the background (when a Stripe key is configured).",
            5,
            1440,
        ),
        Setting(
            "data_cost_per_1000_cents",
            int,
            1000,
            "Contact data price in cents per 1,000 contacts pulled, for sources without their own price.",
            0,
            10_000_000,
        ),
        Setting(
            "data_cost_by_source",
            str,
            "",
            "Contact data prices per source, in cents per 1,000 contacts: e.g. "
            "'master_db=800, import=1200'. Sources not named use data_cost_per_1000_cents.",
            parse=parse_source_prices,
        ),
        Setting(
            "mailbox_monthly_cents",
            int,
            450,
            "Monthly cost in cents of one sending mailbox; all mailboxes and domains are shared "
            "by clients in proportion to the emails each sent that month.",
            0,
            10_000_000,
        ),
        Setting(
            "domain_monthly_cents",
            int,
            125,
            "Monthly cost in cents of one sending domain (registration and DNS, spread per month).",
            0,
            10_000_000,
        ),
        Setting(
            "crm_backfill_days",
            int,
            14,
            "When a client's CRM is first configured, interested leads up to this many days old are "
            "delivered too; older ones stay in LeadOps only.",
            0,
            365,
        ),
        Setting(
            "territory_shared_zips",
            bool,
            False,
            "Allow a ZIP code to belong to several clients. Off (the default), territories are "
            "exclusive and a ZIP owned by another client is only assigned when taken over explicitly.",
        ),
        Setting(
            "territory_map_style",
            str,
            "carto-positron",
            "Base map of the Territories page. Tiles load in the browser from the internet; "
            "'white-bg' draws no tiles (for machines without internet access).",
            choices=(
                "carto-positron",
                "carto-positron-nolabels",
                "carto-voyager",
                "carto-darkmatter",
                "open-street-map",
                "white-bg",
            ),
        ),
        Setting(
            "debounce_cost_per_1000_cents",
            int,
            80,
            "What 1,000 Debounce verifications cost, in cents (verification runs and Revenue).",
            0,
            100_000,
        ),
        Setting(
            "verification_bulk_threshold",
            int,
            20_000,
            "A verification with more addresses for Debounce than this sends them as one bulk "
            "list (upload, wait, download) instead of one call per address.",
            1,
            10_000_000,
        ),
        Setting(
            "verification_list_url",
            str,
            "",
            "Public HTTPS address Debounce reads bulk lists from (reaching the list server); "
            "empty: no bulk lists.",
        ),
        Setting("verification_list_listen", str, "127.0.0.1:8790", "Where bulk lists are served."),
        Setting(
            "gap_safety_margin",
            float,
            0.15,
            "Extra share added to a recommended pull so losses in filtering and verification "
            "still close the gap.",
            0.0,
            2.0,
        ),
        Setting(
            "master_pull_exclude_months",
            int,
            6,
            "A master-database pull skips anyone pulled for any client in this many months.",
            0,
            120,
        ),
        Setting(
            "gap_zip_radius_miles",
            float,
            15.0,
            "Radius around a client's ZIPs in which unassigned ZIPs are offered to close a gap.",
            1.0,
            200.0,
        ),
        Setting(
            "evergreen_lead_days",
            int,
            28,
            "The weekly evergreen step attaches the batch whose renewal window starts this many "
            "days ahead.",
            1,
            90,
        ),
        Setting(
            "master_db_table",
            str,
            "consumers",
            "Table (or schema.table) of the master contacts database that pulls read.",
        ),
        Setting(
            "master_db_columns",
            str,
            "{}",
            "JSON mapping of our field names to the master table's columns, e.g. "
            '{"email": "email_address", "zip": "zip5"}; unnamed fields use our names.',
        ),
        # -- connections (Settings → Connections; a LEADOPS_* variable overrides each) --
        Setting(
            "bison_url",
            str,
            "",
            "The agency's Email Bison instance, e.g. https://send.youragency.com (the client adds "
            "/api). LEADOPS_BISON_URL, when set, overrides it.",
            parse=parse_http_url,
        ),
        Setting(
            "master_db_url",
            str,
            "",
            "The master contacts database without its password, e.g. "
            "postgresql+psycopg://leadops@db.internal/contacts; the password is the secret "
            "master_db.password. LEADOPS_MASTER_DB_URL, when set, overrides it.",
            parse=parse_database_url,
        ),
        Setting(
            "slack_channel",
            str,
            "",
            "The team's Slack channel for milestone notices, e.g. #lead-ops (shown in Settings and "
            "the test message; the incoming-webhook URL that posts there is the secret slack.webhook).",
        ),
        Setting(
            "display_timezone",
            str,
            "America/New_York",
            "Time zone in which pages show dates and times.",
        ),
    ]
}


class SettingError(ValueError):
    pass


def coerce(setting: Setting, value: Any) -> Any:
    """Turn user input into the setting's type, or raise SettingError naming the setting."""
    try:
        if setting.type is bool:
            v: Any = (
                value
                if isinstance(value, bool)
                else str(value).strip().lower() in {"1", "true", "yes", "on"}
            )
        elif setting.type is int:
            v = int(str(value).replace(",", "").strip())
        elif setting.type is float:
            v = float(str(value).strip())
        else:
            v = str(value)
    except ValueError:
        raise SettingError(
            f"{setting.name}: {value!r} is not a valid {setting.type.__name__}."
        ) from None
    if setting.minimum is not None and v < setting.minimum:
        raise SettingError(f"{setting.name}: must be at least {setting.minimum}.")
    if setting.maximum is not None and v > setting.maximum:
        raise SettingError(f"{setting.name}: must be at most {setting.maximum}.")
    if setting.choices and v not in setting.choices:
        raise SettingError(f"{setting.name}: must be one of {', '.join(setting.choices)}.")
    if setting.parse is not None:
        try:
            setting.parse(v)
        except ValueError as exc:
            raise SettingError(f"{setting.name}: {exc}.") from None
    return v


def get(db: Database, name: str) -> Any:
    setting = REGISTRY[name]
    raw = db.scalar("SELECT value FROM settings WHERE name = ?", [name])
    return setting.default if raw is None else coerce(setting, json.loads(raw))


def get_all(db: Database) -> dict[str, Any]:
    stored = dict(db.rows("SELECT name, value FROM settings"))
    return {
        name: (coerce(s, json.loads(stored[name])) if name in stored else s.default)
        for name, s in REGISTRY.items()
    }


def set_value(db: Database, name: str, value: Any, *, actor: str) -> Any:
    if name not in REGISTRY:
        raise SettingError(f"Unknown setting {name!r}.")
    v = coerce(REGISTRY[name], value)
    before = get(db, name)
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO settings (name, value, updated_by) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = now(), updated_by = excluded.updated_by",
            [name, json.dumps(v), actor],
        )
        audit.record(
            cur,
            actor=actor,
            action="settings.update",
            entity="setting",
            entity_id=name,
            before=before,
            after=v,
        )
    return v
