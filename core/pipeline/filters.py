"""Filter rules and the filter stage: one set-based pass that rejects, keeps or moves contacts.

Rules apply in `position` order; a contact's reject reason is the name of the first rule it
matches. Global rules (workspace_id NULL) apply to every client; a client's rule with the same
name replaces the global one for that client. Out of the box: invalid addresses, suppressed
contacts, role accounts, disposable domains, contacts already uploaded, duplicates, non-heads of
household and home values over the client's cap are excluded; high-net-worth routing (moving
over-cap contacts of chosen states to the high-net-worth client) ships disabled.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from core.accounts import access
from core.pipeline import suppression
from core.pipeline.contact_import import EMAIL_RE
from core.platform import audit
from core.platform.renewals import add_months
from core.platform.store import Database

ROLE_ACCOUNTS = (
    "info",
    "sales",
    "admin",
    "administrator",
    "support",
    "contact",
    "office",
    "help",
    "billing",
    "marketing",
    "noreply",
    "no-reply",
    "donotreply",
    "webmaster",
    "postmaster",
    "hostmaster",
    "abuse",
    "hr",
    "jobs",
    "careers",
    "team",
    "hello",
    "enquiries",
    "inquiries",
    "service",
    "customerservice",
    "accounts",
    "mail",
    "root",
    "security",
    "privacy",
    "legal",
    "press",
)
FREE_MAIL = (
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
    "icloud.com",
    "live.com",
    "msn.com",
    "comcast.net",
    "att.net",
    "verizon.net",
    "sbcglobal.net",
    "me.com",
    "ymail.com",
    "protonmail.com",
    "proton.me",
    "mail.com",
    "gmx.com",
    "bellsouth.net",
    "cox.net",
    "charter.net",
    "earthlink.net",
)

FIELDS = {
    "email": "c.email",
    "email_domain": "split_part(lower(c.email), '@', 2)",
    "state": "c.state",
    "zip": "c.zip",
    "city": "c.city",
    "home_value": "c.home_value",
    "income": "c.income",
    "purchase_date": "c.purchase_date",
    "head_of_household": "c.head_of_household",
    "first_name": "c.first_name",
    "last_name": "c.last_name",
}
NUMERIC = {"home_value", "income"}
# operator -> (label, needs a value)
OPERATORS: dict[str, tuple[str, bool]] = {
    "equals": ("equals", True),
    "not_equals": ("is not", True),
    "in": ("is one of (comma-separated)", True),
    "not_in": ("is none of (comma-separated)", True),
    "gt": ("greater than", True),
    "lt": ("less than", True),
    "contains": ("contains", True),
    "ends_with": ("ends with", True),
    "is_empty": ("is empty", False),
    "free_mail": ("is a free-mail address (exclude free mail)", False),
    "not_free_mail": ("is not free mail (free-mail only)", False),
    "invalid_email": ("is not a valid address", False),
    "suppressed": ("is on the suppression list", False),
    "role_account": ("is a role account (info@, sales@ …)", False),
    "disposable_domain": ("is at a disposable domain", False),
    "previously_uploaded": ("was uploaded before (any client)", False),
    "duplicate": ("duplicates another contact", False),
    "is_false": ("is false", False),
    "over_cap": ("is over the client's home value cap", False),
    "route_over_cap": ("over cap in these states: move to the high-net-worth client", True),
}
KEPT = ("filtered", "verifying", "verified", "batched", "uploaded")


class RuleError(ValueError):
    pass


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(value: str) -> str:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return "(" + ", ".join(_lit(v) for v in items) + ")" if items else "(NULL)"


def rule_condition(field: str, operator: str, value: str | None) -> str:
    """The SQL condition (over contacts `c`, workspaces `w`) that makes a contact match a rule."""
    if field not in FIELDS:
        raise RuleError(f"Field: {field!r} is not one of {', '.join(FIELDS)}.")
    if operator not in OPERATORS:
        raise RuleError(f"Operator: {operator!r} is not one of {', '.join(OPERATORS)}.")
    col = FIELDS[field]
    email = "lower(trim(c.email))"
    val = value or ""
    if OPERATORS[operator][1] and not val.strip() and operator != "route_over_cap":
        raise RuleError(f"Value: the operator '{operator}' needs a value.")
    if field in NUMERIC and operator in ("gt", "lt", "equals", "not_equals"):
        try:
            float(val)
        except ValueError:
            raise RuleError(f"Value: {val!r} is not a number.") from None
        num = str(float(val))
        return {
            "gt": f"{col} > {num}",
            "lt": f"{col} < {num}",
            "equals": f"{col} = {num}",
            "not_equals": f"{col} <> {num}",
        }[operator]
    return {
        "equals": f"lower(CAST({col} AS VARCHAR)) = lower({_lit(val)})",
        "not_equals": f"lower(CAST({col} AS VARCHAR)) <> lower({_lit(val)})",
        "in": f"upper(CAST({col} AS VARCHAR)) IN {_list(val.upper())}",
        "not_in": f"upper(CAST({col} AS VARCHAR)) NOT IN {_list(val.upper())}",
        "gt": f"CAST({col} AS VARCHAR) > {_lit(val)}",
        "lt": f"CAST({col} AS VARCHAR) < {_lit(val)}",
        "contains": f"contains(lower(CAST({col} AS VARCHAR)), lower({_lit(val)}))",
        "ends_with": f"ends_with(lower(CAST({col} AS VARCHAR)), lower({_lit(val)}))",
        "is_empty": f"({col} IS NULL OR trim(CAST({col} AS VARCHAR)) = '')",
        "free_mail": f"split_part({email}, '@', 2) IN {_list(','.join(FREE_MAIL))}",
        "not_free_mail": f"split_part({email}, '@', 2) NOT IN {_list(','.join(FREE_MAIL))}",
        "invalid_email": f"NOT regexp_full_match(coalesce(trim(c.email), ''), {_lit(EMAIL_RE)})",
        "suppressed": "f.suppressed",
        "role_account": f"split_part({email}, '@', 1) IN {_list(','.join(ROLE_ACCOUNTS))}",
        "disposable_domain": "f.disposable",
        "previously_uploaded": "f.uploaded_before",
        "duplicate": "f.duplicate",
        "is_false": f"{col} = false",
        "over_cap": "c.home_value > w.home_value_cap",
        "route_over_cap": "false",
    }[operator]


def effective_rules(db: Database, workspace_id: int | None) -> pl.DataFrame:
    """The rules in force for a client (or the global ones), in order, client overrides first."""
    return db.query(
        """
        SELECT * EXCLUDE (rk) FROM (
            SELECT r.*, row_number() OVER (PARTITION BY lower(name)
                                           ORDER BY workspace_id IS NULL, id) AS rk
            FROM filter_rules r WHERE workspace_id IS NULL OR workspace_id = ?)
        WHERE rk = 1 ORDER BY position, id
        """,
        [workspace_id],
    )


def list_rules(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT r.id, coalesce(w.name, 'All clients') AS applies_to, r.name, r.field, r.operator,"
        " r.value, r.enabled, r.position, r.created_by, r.updated_at"
        " FROM filter_rules r LEFT JOIN workspaces w ON w.id = r.workspace_id"
        " ORDER BY r.workspace_id NULLS FIRST, r.position, r.id"
    )


def save_rule(
    db: Database,
    user: access.User,
    *,
    name: str,
    field: str,
    operator: str,
    value: str | None = None,
    enabled: bool = True,
    workspace_id: int | None = None,
    position: int = 100,
    rule_id: int | None = None,
) -> int:
    """Add or change a rule (validated by building its SQL); audited."""
    access.require(user, "pipeline.rules")
    name = (name or "").strip()
    if not name:
        raise RuleError("Name: give the rule a name; it is the reject reason contacts show.")
    rule_condition(field, operator, value)
    with db.transaction() as cur:
        before = None
        if rule_id is not None:
            before = cur.sql("SELECT * FROM filter_rules WHERE id = ?", params=[rule_id]).fetchall()
            cur.execute(
                "UPDATE filter_rules SET name = ?, field = ?, operator = ?, value = ?, enabled = ?,"
                " workspace_id = ?, position = ?, updated_at = now() WHERE id = ?",
                [name, field, operator, value, enabled, workspace_id, position, rule_id],
            )
        else:
            rule_id = cur.execute(
                "INSERT INTO filter_rules (workspace_id, name, field, operator, value, enabled,"
                " position, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [workspace_id, name, field, operator, value, enabled, position, user.email],
            ).fetchall()[0][0]
        audit.record(
            cur,
            actor=user.email,
            action="filter_rule.save",
            entity="filter_rule",
            entity_id=rule_id,
            before=str(before) if before else None,
            after={
                "name": name,
                "field": field,
                "operator": operator,
                "value": value,
                "enabled": enabled,
                "workspace_id": workspace_id,
            },
        )
    return int(rule_id)


def resolve_rule(db: Database, ref: str | int) -> int:
    """The id of the rule numbered or named `ref` (a name shared by several rules needs the id)."""
    text = str(ref).strip()
    if text.lstrip("#").isdigit():
        rule_id = int(text.lstrip("#"))
        if not db.scalar("SELECT count(*) FROM filter_rules WHERE id = ?", [rule_id]):
            raise RuleError(f"No filter rule {rule_id}.")
        return rule_id
    ids = [
        r[0]
        for r in db.rows(
            "SELECT id FROM filter_rules WHERE lower(name) = lower(?) ORDER BY id", [text]
        )
    ]
    if len(ids) == 1:
        return int(ids[0])
    if ids:
        raise RuleError(
            f"{len(ids)} rules are named {text!r} (ids {', '.join(map(str, ids))}): give the id."
        )
    raise RuleError(f"No filter rule named {text!r}.")


def set_enabled(db: Database, user: access.User, rule_id: int, enabled: bool) -> bool:
    """Switch a rule on or off, keeping everything else; False when it already was."""
    rows = db.query("SELECT * FROM filter_rules WHERE id = ?", [rule_id])
    if rows.height == 0:
        raise RuleError(f"No filter rule {rule_id}.")
    rule = rows.row(0, named=True)
    if bool(rule["enabled"]) == enabled:
        access.require(user, "pipeline.rules")
        return False
    save_rule(
        db,
        user,
        name=rule["name"],
        field=rule["field"],
        operator=rule["operator"],
        value=rule["value"],
        enabled=enabled,
        workspace_id=rule["workspace_id"],
        position=rule["position"],
        rule_id=rule_id,
    )
    return True


def edit_rule(db: Database, user: access.User, rule_id: int, **changes: Any) -> dict[str, Any]:
    """Change some of a rule's parts (name, field, operator, value, enabled, workspace_id,
    position), keeping the others; checked and audited like a new rule. Returns the rule."""
    allowed = {"name", "field", "operator", "value", "enabled", "workspace_id", "position"}
    unknown = set(changes) - allowed
    if unknown:
        raise RuleError(f"A rule has no {', '.join(sorted(unknown))}.")
    rows = db.query("SELECT * FROM filter_rules WHERE id = ?", [rule_id])
    if rows.height == 0:
        raise RuleError(f"No filter rule {rule_id}.")
    rule = {k: v for k, v in rows.row(0, named=True).items() if k in allowed} | changes
    save_rule(db, user, rule_id=rule_id, **rule)
    return rule


def delete_rule(db: Database, user: access.User, rule_id: int) -> None:
    access.require(user, "pipeline.rules")
    if not db.scalar("SELECT count(*) FROM filter_rules WHERE id = ?", [rule_id]):
        raise RuleError(f"No filter rule {rule_id}.")
    with db.transaction() as cur:
        cur.execute("DELETE FROM filter_rules WHERE id = ?", [rule_id])
        audit.record(
            cur,
            actor=user.email,
            action="filter_rule.delete",
            entity="filter_rule",
            entity_id=rule_id,
        )


# -- suppression list (core/pipeline/suppression.py) ---------------------------------------

add_suppressions = suppression.add_suppressions
suppression_list = suppression.suppression_list


def import_suppression_csv(
    db: Database, user: access.User, path: str | Path, reason: str | None = None
) -> dict[str, Any]:
    """Add every address in a CSV or Excel file to the list; the import report
    (`suppression.import_file`)."""
    return suppression.import_file(db, user, path, reason=reason)


# -- the filter stage ------------------------------------------------------------------------


def run_scope(month: dt.date) -> str:
    """Contacts a run for renewal `month` works on (needs `c` and parameter $month)."""
    return (
        "(c.renewal_month = $month OR (c.renewal_month IS NULL AND"
        " (c.purchase_date IS NULL OR month(c.purchase_date) = month($month))))"
    )


def _disposable_table() -> pa.Table:
    from disposable_email_domains import blocklist

    return pa.table({"domain": sorted(blocklist)})


def filter_stage(db: Database, workspace_id: int, month: dt.date) -> dict[str, Any]:
    """Apply the client's rules to its raw contacts for `month`. Returns counts per outcome."""
    rules = effective_rules(db, workspace_id).filter(pl.col("enabled"))
    cases, route_states, cap_names = [], "", ["''"]
    for r in rules.iter_rows(named=True):
        if r["operator"] == "over_cap":
            cap_names.append(_lit(r["name"]))
        if r["operator"] == "route_over_cap":
            route_states = r["value"] or ""
            continue
        cond = rule_condition(r["field"], r["operator"], r["value"])
        cases.append(f"WHEN {cond} THEN {_lit(r['name'])}")
    reason = f"CASE {' '.join(cases)} END" if cases else "NULL::VARCHAR"
    hnw = db.scalar(
        "SELECT min(id) FROM workspaces WHERE high_net_worth AND active AND id <> ?",
        [workspace_id],
    )
    route = (
        f"CASE WHEN c.home_value > w.home_value_cap AND upper(c.state) IN {_list(route_states.upper())}"
        f" THEN {int(hnw)} END"
        if hnw and route_states.strip()
        else "NULL::INTEGER"
    )
    params = {"wid": workspace_id, "month": month}
    with db.cursor() as cur:
        cur.register("_disposable", _disposable_table())
        cur.execute(
            f"""
            CREATE TEMP TABLE _filter AS
            WITH cand AS (
                SELECT c.id, lower(trim(c.email)) AS k FROM contacts c
                WHERE c.workspace_id = $wid AND c.status = 'raw' AND {run_scope(month)}),
            f AS (
                SELECT cand.id,
                       s.email_key IS NOT NULL AS suppressed,
                       d.domain IS NOT NULL AS disposable,
                       u.k IS NOT NULL AS uploaded_before,
                       (kept.k IS NOT NULL
                        OR row_number() OVER (PARTITION BY cand.k ORDER BY cand.id) > 1)
                         AS duplicate
                FROM cand
                LEFT JOIN suppression_list s ON s.email_key = cand.k
                LEFT JOIN _disposable d ON d.domain = split_part(cand.k, '@', 2)
                LEFT JOIN (SELECT DISTINCT lower(trim(email)) AS k FROM contacts
                           WHERE status = 'uploaded') u ON u.k = cand.k
                LEFT JOIN (SELECT DISTINCT lower(trim(email)) AS k FROM contacts
                           WHERE status IN {KEPT}) kept ON kept.k = cand.k)
            SELECT id, CASE WHEN coalesce(reason, '') IN ({", ".join(cap_names)}) THEN route_to
                       END AS route_to, reason
            FROM (SELECT c.id, {route} AS route_to, {reason} AS reason
            FROM contacts c JOIN f ON f.id = c.id JOIN workspaces w ON w.id = c.workspace_id)
            """,
            params,
        )
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                """
                UPDATE contacts SET
                    status = CASE WHEN x.route_to IS NOT NULL THEN 'raw'
                                  WHEN x.reason IS NULL THEN 'filtered' ELSE 'rejected' END,
                    reject_reason = CASE WHEN x.route_to IS NULL THEN x.reason END,
                    workspace_id = coalesce(x.route_to, contacts.workspace_id),
                    routed_from = CASE WHEN x.route_to IS NOT NULL THEN contacts.workspace_id END,
                    renewal_month = $month, campaign_month = $cmonth, updated_at = now()
                FROM _filter x WHERE contacts.id = x.id
                """,
                {"month": month, "cmonth": add_months(month, -1)},
            )
            cur.execute(  # each contact's history: the rule that rejected or moved it, and when
                "INSERT INTO contact_events (contact_id, workspace_id, kind, rule, reason)"
                " SELECT id, coalesce(route_to, $wid), 'filter', reason, CASE WHEN route_to IS"
                " NOT NULL THEN 'moved to the high-net-worth client' ELSE 'rejected' END"
                " FROM _filter WHERE reason IS NOT NULL OR route_to IS NOT NULL",
                {"wid": workspace_id},
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        rows = cur.execute(
            "SELECT CASE WHEN route_to IS NOT NULL THEN 'moved to high-net-worth client'"
            " ELSE coalesce(reason, 'kept') END, count(*) FROM _filter GROUP BY 1"
        ).fetchall()
        cur.execute("DROP TABLE _filter")
        cur.unregister("_disposable")
    db.bump_version()
    by_reason = {k: int(v) for k, v in rows}
    total = sum(by_reason.values())
    kept = by_reason.get("kept", 0)
    return {
        "input": total,
        "output": kept,
        "removed_by_rule": {
            k: v for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1]) if k != "kept"
        },
    }
