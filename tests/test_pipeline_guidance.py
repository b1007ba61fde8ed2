"""What the Pipeline page says before and after: why a run cannot start (the page and the command
line give the same reason), what became of an import's contacts, and a gap-to-goal plan capped at
what the territory can supply."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.accounts import access
from core.pipeline import batching, filters, gap, import_outcome, run_check, uploads, verification
from core.pipeline.contact_import import import_file
from core.platform import secrets, settings
from tests.test_pipeline import MONTH, month_rows, write_contacts, ws  # noqa: F401  (fixture)

ADMIN = access.LOCAL_ADMIN


@pytest.fixture
def no_bison(monkeypatch):
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)


def test_why_a_run_cannot_start_in_order(ws, tmp_path, no_bison):  # noqa: F811
    assert run_check.why_not(ws, 1, MONTH) == (
        "Nothing to process for March 2027: no new contacts, and nothing waiting to be verified,"
        " batched or uploaded. Import contacts or pull them from the master database first."
    )
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(5)), actor="t")
    assert run_check.pending_work(ws, 1, MONTH) == {
        "filter": 5,
        "verify": 0,
        "batch": 0,
        "upload": 0,
    }
    assert run_check.why_not(ws, 1, MONTH, "upload").startswith(
        "Nothing to process for March 2027 from the upload stage"
    )
    assert run_check.why_not(ws, 1, MONTH).startswith("No upload campaign chosen for this client")
    uploads.set_campaigns(ws, ADMIN, 1, upload_campaign_id=77, evergreen_campaign_id=None)
    assert run_check.why_not(ws, 1, MONTH) == (
        "Email Bison is not connected: set its address under Settings → Connections."
    )
    settings.set_value(ws, "bison_url", "https://bison.example.com", actor="t")
    assert run_check.why_not(ws, 1, MONTH) == (
        "This client has no Email Bison token: add it under Settings → Email Bison tokens."
    )
    secrets.set_secret(
        ws, secrets.bison_token_name(1), "tok-acme-1234", kind="bison_token", actor="t"
    )
    assert run_check.why_not(ws, 1, MONTH) is None
    assert run_check.why_not(ws, 1, MONTH, "sideways").startswith("Stage 'sideways'")


def test_the_bulk_buttons_say_why_they_have_nothing_to_do(ws, tmp_path, no_bison):  # noqa: F811
    assert run_check.why_not_all(ws, MONTH).startswith(
        "Nothing pending for March 2027 for any client"
    )
    assert run_check.why_not_all(ws, MONTH, "upload") == (
        "No batch for March 2027 is waiting to be uploaded, for any client."
    )
    import_file(ws, 1, write_contacts(tmp_path / "b.csv", month_rows(3)), actor="t")
    assert run_check.why_not_all(ws, MONTH).startswith("Email Bison is not connected")
    settings.set_value(ws, "bison_url", "https://bison.example.com", actor="t")
    assert run_check.why_not_all(ws, MONTH) is None
    assert run_check.why_not_all(ws, MONTH, "upload").startswith("No batch for March 2027")


def test_the_command_line_refuses_with_the_pages_reason(ws, tmp_path, no_bison):  # noqa: F811
    from core.cli.main import app

    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(5)), actor="t")
    uploads.set_campaigns(ws, ADMIN, 1, upload_campaign_id=77, evergreen_campaign_id=None)
    reason = run_check.why_not(ws, 1, MONTH)
    assert reason and reason.startswith("Email Bison is not connected")
    ws.close()
    args = ["pipeline", "run", "--workspace", "Acme Insurance", "--month", "2027-03"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and reason in res.output, res.output
    res = CliRunner().invoke(app, [*args[:-1], "2027-09"])  # a month with nothing in it
    assert res.exit_code == 1 and "Nothing to process for September 2027" in res.output


def test_what_became_of_an_imports_contacts(ws, tmp_path):  # noqa: F811
    rows = month_rows(18, day=3) + [
        "info@example.com,I,N,75201,2019-03-04,1",
        "sales@example.com,S,A,75204,2019-03-05,1",
    ]
    f = write_contacts(tmp_path / "list.csv", rows)
    r = import_file(ws, 1, f, actor="t")
    o = import_outcome.outcome(ws, r["import_id"])
    assert import_outcome.summary(o) == "Your 20 contacts: 20 waiting for a pipeline run."
    filters.filter_stage(ws, 1, MONTH)
    verification.verify_stage(ws, 1, MONTH)
    batching.batch_stage(ws, 1, MONTH)
    o = import_outcome.outcome(ws, r["import_id"])
    assert o["batched"] == [("Mar 1–7", 18)] and o["removed"] == [("role account", 2)]
    assert import_outcome.summary(o) == (
        "Your 20 contacts: 18 batched into Mar 1–7, 2 removed (role account)."
    )


def test_rows_without_a_purchase_date_get_the_month_and_say_so(ws, tmp_path):  # noqa: F811
    from core.cli.main import app

    f = write_contacts(
        tmp_path / "nodate.csv",
        ["a@example.com,A,A,75201,,1", "b@example.com,B,B,75204,,1", *month_rows(2, prefix="d")],
    )
    ws.close()
    res = CliRunner().invoke(
        app, ["import", "contacts", str(f), "--workspace", "Acme Insurance", "--month", "2027-05"]
    )
    assert res.exit_code == 0, res.output
    assert (
        "Your 4 contacts: 4 waiting for a pipeline run. 2 had no purchase date: given the "
        "renewal month May 2027." in res.output
    ), res.output


def test_gap_to_goal_is_capped_at_what_the_territory_supplies(ws, tmp_path):  # noqa: F811
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(30)), actor="t")
    g = gap.capped_plan(ws, 1, MONTH)
    assert g["needed"] == 15000 and g["territory_zips"] == 3 and g["territory_contacts"] == 30
    # 30 raw contacts at the default pass rates (80 % × 90 %) give about 22 refined
    assert g["capped"] and g["plan"] == g["supply"] == round(30 * 0.8 * 0.9)
    assert g["recommended_pull"] == 0  # nothing more to pull without a master database
    assert "its 3 ZIPs hold 30 contacts in all" in g["capped_reason"]
    assert "there is no master database to pull more from" in g["capped_reason"]
    assert "add ZIPs (Territories) or widen the filters" in g["capped_reason"]
    # a master database with 1,000 more in those ZIPs: the pull is cut to them
    g = gap.capped_plan(ws, 1, MONTH, master_available=1000)
    assert g["capped"] and g["recommended_pull"] == 1000
    assert g["supply"] == round(30 * 0.72) + 720
    assert "the master database has 1,000 more in them" in g["capped_reason"]
    # a package the territory can fill is not capped
    ws.execute(
        "INSERT INTO package_tiers (tier, monthly_target, refined_contacts, emails_per_day)"
        " VALUES ('tiny', 5, 10, 50)"
    )
    ws.execute("UPDATE workspaces SET tier = 'tiny' WHERE id = 1")
    g = gap.capped_plan(ws, 1, MONTH)
    assert not g["capped"] and g["plan"] == 10 and g["capped_reason"] is None
