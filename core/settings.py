"""The settings registry: every operator-editable setting with its type, default and help.

Values live in the `settings` table; anything not set there takes its default. Environment
variables (`LEADOPS_*`) configure the process and are documented in README.md; these settings
are the ones staff change from the Settings page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core import audit
from core.store import Database


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


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
            "How many client workspaces an Email Bison sync fetches at once.",
            1,
            16,
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
            "debounce_cost_per_1000_cents",
            int,
            80,
            "What 1,000 Debounce verifications cost, in cents; recorded per verification run.",
            0,
            100_000,
        ),
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
