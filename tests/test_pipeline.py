"""The lead pipeline end to end: import, filter, verify (fake Debounce), batch, upload (fake Email
Bison), evergreen, notices, runs with cancel and retry, idempotency of every stage."""

from __future__ import annotations

import datetime as dt
import json
import math
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.bison import BisonClient
from connectors.debounce import DebounceClient
from core.accounts import access
from core.demo.sandbox import serve
from core.pipeline import batching, filters, notices, uploads, verification
from core.pipeline import runs as pipeline
from core.pipeline.contact_import import ContactImportError, import_file, inspect_file
from core.platform import jobs, secrets
from tests.fakes.debounce_server import DebounceFake

MONTH = dt.date(2027, 3, 1)
ADMIN = access.LOCAL_ADMIN


@pytest.fixture
def ws(empty_db):
    """One client (tier 100) with three ZIPs, and a high-net-worth client."""
    db = empty_db
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO workspaces (id, name, licensed_states, tier, monthly_target, bison_workspace_id)"
            " VALUES (1, 'Acme Insurance', ['TX'], '100', 100, 1),"
            " (2, 'Lone Star HNW', ['TX'], '100', 100, 2)"
        )
        cur.execute("UPDATE workspaces SET high_net_worth = true WHERE id = 2")
        cur.execute(
            "INSERT INTO zip_assignments (zip, workspace_id) VALUES ('75201', 1), ('75204', 1),"
            " ('75205', 1), ('75206', 2)"
        )
    return db


def write_contacts(path, rows, header="email,first_name,last_name,zip,purchase_date,home_value"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def month_rows(n, prefix="p", zips=("75201", "75204", "75205"), value=300000, day=None):
    return [
        f"{prefix}{i}@example.com,F{i},L{i},{zips[i % len(zips)]},"
        f"2019-03-{(day or (i % 28) + 1):02d},{value}"
        for i in range(n)
    ]


# -- import ----------------------------------------------------------------------------------


def test_import_detects_columns_and_reports_every_bad_row(ws, tmp_path):
    f = tmp_path / "cole.csv"
    f.write_text(
        "\ufeffOwner First Name;Owner Last Name;Email Address;Property Zip;Sale Date;Est. Home Value;HOH\n"
        "Ann;Lee;ann@example.com;75201;03/04/2015;$420,000;Y\n"
        'Bo;"Multi\nLine";bo@example.com;75204;2016-03-09;1000;N\n'
        "Cy;Ng;not-an-email;75201;;;\n"
        "Di;Ox;di@example.com;90210;;;\n"
        "Ed;Po;ann@example.com;75201;;;\n"
        "Fa;Qu;fa@example.com;75201;31/31/2020;;\n"
        "Gi;Ru;gi@example.com;;;;\n"
        "too;few\n",
        encoding="utf-8",
    )
    info = inspect_file(ws, f)
    assert info.delimiter == ";"
    assert info.mapping["email"] == "Email Address"
    assert info.mapping["zip"] == "Property Zip"
    assert info.mapping["head_of_household"] == "HOH"
    r = import_file(ws, 1, f, actor="t")
    assert (r["imported"], r["duplicates"]) == (2, 1)
    rejects = ws.query(
        "SELECT row_number, reason FROM import_rejects WHERE import_id = ? ORDER BY row_number",
        [r["import_id"]],
    ).rows()
    reasons = dict(rejects)
    assert reasons[3] == "bad email 'not-an-email'"
    assert "90210 is not in the client's territory" in reasons[4]
    assert reasons[5].startswith("duplicate email in the file (first at row 1)")
    assert reasons[6] == "bad purchase date '31/31/2020'"
    assert reasons[7] == "missing required field: zip"
    assert any("malformed line" in v for v in reasons.values())
    bo = ws.query("SELECT * FROM contacts WHERE email = 'bo@example.com'").row(0, named=True)
    assert bo["last_name"] == "Multi\nLine" and bo["head_of_household"] is False
    assert bo["state"] == "TX" and bo["purchase_date"] == dt.date(2016, 3, 9)
    again = import_file(ws, 1, f, actor="t")
    assert again["imported"] == 0 and again["duplicates"] >= 2


def test_import_draws_ids_from_the_contacts_sequence_and_orders_date_formats(ws, tmp_path):
    """Ids are drawn in the staging pass; later inserts by default must not collide with them.
    A column of day-first-looking US dates still parses when a few rows are ISO."""
    rows = [f"m{i}@example.com,F,L,75201,03/{i % 28 + 1:02d}/2018,1000" for i in range(50)]
    rows += ["iso@example.com,F,L,75201,2017-03-02,1000", "bad@example.com,F,L,75201,03/40/2018,1"]
    r = import_file(ws, 1, write_contacts(tmp_path / "us.csv", rows), actor="t")
    assert (r["imported"], r["rejected"]) == (51, 1)
    ids = ws.query("SELECT id FROM contacts WHERE import_id = ?", [r["import_id"]])["id"]
    assert ids.n_unique() == 51
    with ws.transaction() as cur:
        new_id = cur.execute(
            "INSERT INTO contacts (workspace_id, email) VALUES (1, 'later@example.com') RETURNING id"
        ).fetchall()[0][0]
    assert new_id > ids.max()
    got = dict(
        ws.query(
            "SELECT email, purchase_date FROM contacts WHERE email IN ('iso@example.com',"
            " 'm4@example.com')"
        ).rows()  # fmt: skip
    )
    assert got == {"iso@example.com": dt.date(2017, 3, 2), "m4@example.com": dt.date(2018, 3, 5)}


def test_import_hostile_files(ws, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,first name,zip\nren\xe9@example.com,Ren\xe9,75201\n".encode("latin-1"))
    r = import_file(ws, 1, latin, actor="t")
    assert r["encoding"] == "windows-1252" and r["rejected"] == 1  # é is not allowed in the address
    latin.write_bytes("email,first name,zip\nrene@example.com,Ren\xe9,75201\n".encode("latin-1"))
    assert import_file(ws, 1, latin, actor="t")["imported"] == 1
    assert ws.scalar("SELECT first_name FROM contacts WHERE email = 'rene@example.com'") == "René"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ContactImportError, match="empty"):
        import_file(ws, 1, empty, actor="t")
    noemail = write_contacts(tmp_path / "noemail.csv", ["a,b,75201"], header="name,last,zip")
    with pytest.raises(ContactImportError, match="No email column found.*name, last, zip"):
        import_file(ws, 1, noemail, actor="t")
    dup = tmp_path / "dup.csv"
    dup.write_text("Email,email,zip\nx1@example.com,other@example.com,75201\n")
    r = import_file(ws, 1, dup, actor="t")
    assert r["imported"] == 1 and ws.scalar(
        "SELECT count(*) FROM contacts WHERE email = 'x1@example.com'"
    )
    half = write_contacts(
        tmp_path / "half.csv",
        [f"h{i}@example.com,A,B,75201,,," if i % 2 else f"bad{i},A,B,75201,," for i in range(400)],
    )
    r = import_file(ws, 1, half, actor="t")
    assert (r["imported"], r["rejected"]) == (200, 200)


def test_a_200_mb_file_imports_in_sql(ws, tmp_path):
    big = tmp_path / "big.csv"
    pad = "x" * 880
    rows = 220_000
    with big.open("w") as fh:
        fh.write("email,first_name,last_name,zip,purchase_date,home_value,notes\n")
        for start in range(0, rows, 20_000):
            fh.write("".join(
                f"q{i}@example.com,First{i},Last{i},75201,2018-03-15,250000,{pad}\n"
                for i in range(start, start + 20_000)))  # fmt: skip
    assert big.stat().st_size > 200_000_000
    t = time.monotonic()
    r = import_file(ws, 1, big, actor="t")
    assert r["imported"] == rows
    assert time.monotonic() - t < 30


def test_utf16_with_bom_and_an_excel_workbook(ws, tmp_path):
    from openpyxl import Workbook

    f = tmp_path / "u16.csv"
    f.write_text("Email\tZIP\tFirst Name\nzoë@example.com\t75201\tZoë\nz2@example.com\t75204\tZed\n",
                 encoding="utf-16")  # fmt: skip
    r = import_file(ws, 1, f, actor="t")
    assert r["encoding"] == "utf-16" and r["delimiter"] == "\t"
    assert (r["imported"], r["rejected"]) == (1, 1)
    wb = Workbook()
    sheet = wb.active
    sheet.append(["E-mail", "Zip Code", "Purchase Date", "Home Value"])
    sheet.append(["x1@example.com", 75201, dt.datetime(2019, 3, 9), 350000])
    sheet.append(["x2@example.com", "75999", None, None])
    wb.save(tmp_path / "list.xlsx")
    r = import_file(ws, 1, tmp_path / "list.xlsx", actor="t")
    assert (r["imported"], r["rejected"]) == (1, 1)
    row = ws.query("SELECT * FROM contacts WHERE email = 'x1@example.com'").row(0, named=True)
    assert row["purchase_date"] == dt.date(2019, 3, 9) and row["home_value"] == 350000


def test_cli_imports_and_runs(ws, tmp_path):
    from typer.testing import CliRunner

    from core.cli.main import app

    ws.close()
    f = write_contacts(tmp_path / "a.csv", month_rows(5) + ["bad,A,B,75201,,"])
    runner = CliRunner()
    res = runner.invoke(app, ["import", "contacts", str(f), "--workspace", "Acme Insurance"])
    assert res.exit_code == 0, res.output
    assert "6 rows read, 5 imported, 0 duplicates, 1 rejected" in res.output
    res = runner.invoke(app, ["pipeline", "run", "--workspace", "Acme Insurance", "--month",
                              "2027-03", "--from-stage", "filter"])  # fmt: skip
    assert res.exit_code == 1 and "No upload campaign" in res.output
    res = runner.invoke(app, ["pipeline", "run", "--workspace", "Acme Insurance", "--month",
                              "2027-03", "--from-stage", "bogus"])  # fmt: skip
    assert res.exit_code == 2
    res = runner.invoke(app, ["pipeline", "evergreen"])
    assert res.exit_code == 0, res.output


# -- filter ----------------------------------------------------------------------------------


def test_default_rules_and_high_net_worth_routing(ws, tmp_path):
    rows = month_rows(10) + [
        "info@example.com,I,N,75201,2019-03-02,1",
        "temp@mailinator.com,T,M,75201,2019-03-02,1",
        "gone@example.com,G,O,75201,2019-03-02,1",
        "rich@example.com,R,I,75201,2019-03-02,2000000",
        "other@example.com,O,T,75201,2019-06-02,1",
    ]
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", rows), actor="t")
    import_file(
        ws, 2, write_contacts(tmp_path / "b.csv", ["p1@example.com,A,B,75206,,"]), actor="t"
    )
    ws.execute("UPDATE contacts SET status = 'uploaded' WHERE workspace_id = 2")
    filters.add_suppressions(ws, ADMIN, ["GONE@example.com"], "unsubscribed")
    out = filters.filter_stage(ws, 1, MONTH)
    assert out["input"] == 14  # the June anniversary is not in the March run
    assert out["removed_by_rule"] == {
        "role account": 1,
        "disposable domain": 1,
        "suppressed": 1,
        "already uploaded": 1,
        "home value over cap": 1,
    }
    assert out["output"] == 9
    assert filters.filter_stage(ws, 1, MONTH)["input"] == 0  # idempotent
    # Routing: over-cap Texans move to the high-net-worth client instead of being dropped.
    ws.execute("UPDATE contacts SET status = 'raw', reject_reason = NULL WHERE workspace_id = 1")
    ws.execute(
        "UPDATE filter_rules SET enabled = true, value = 'TX' WHERE operator = 'route_over_cap'"
    )
    out = filters.filter_stage(ws, 1, MONTH)
    assert out["removed_by_rule"]["moved to high-net-worth client"] == 1
    moved = ws.query("SELECT * FROM contacts WHERE email = 'rich@example.com'").row(0, named=True)
    assert (moved["workspace_id"], moved["routed_from"], moved["status"]) == (2, 1, "raw")


def test_custom_rule_validation_and_per_client_override(ws, tmp_path):
    with pytest.raises(filters.RuleError, match="not a number"):
        filters.save_rule(ws, ADMIN, name="x", field="home_value", operator="gt", value="lots")
    with pytest.raises(access.PermissionDenied):
        filters.save_rule(ws, access.User("o@x.com", "operator"), name="x", field="zip",
                          operator="in", value="75201")  # fmt: skip
    filters.save_rule(ws, ADMIN, name="no 75204", field="zip", operator="in", value="75204",
                      workspace_id=1, position=5)  # fmt: skip
    filters.save_rule(ws, ADMIN, name="home value over cap", field="home_value",
                      operator="over_cap", enabled=False, workspace_id=1, position=80)  # fmt: skip
    import_file(
        ws, 1, write_contacts(tmp_path / "a.csv", month_rows(9, value=5_000_000)), actor="t"
    )
    out = filters.filter_stage(ws, 1, MONTH)
    assert out["removed_by_rule"] == {"no 75204": 3}
    assert ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'filter_rule.save'") == 2


# -- verify ----------------------------------------------------------------------------------


@pytest.fixture
def debounce(monkeypatch, ws):
    fake = DebounceFake()
    with serve(fake) as url:
        monkeypatch.setenv("LEADOPS_DEBOUNCE_URL", url)
        secrets.set_secret(ws, verification.DEBOUNCE_SECRET, fake.api_key, kind="debounce_key",
                           actor="t")  # fmt: skip
        yield fake


def test_debounce_connector_codes_concurrency_and_bulk(debounce):
    client = DebounceClient(debounce.api_key, sleep=lambda s: None)
    debounce.delay = 0.02
    got = client.verify_many([f"u{i}@example.com" for i in range(20)] + ["invalid1@example.com"])
    assert [v.verdict for v in got[-2:]] == ["safe", "invalid"] and got[-1].code == "6"
    assert 1 < debounce.max_in_flight <= 5
    debounce.delay = 0
    debounce.fail_next(2, 429)
    assert client.verify("risky@example.com").verdict == "risky"
    assert client.balance() == debounce.credits
    bad = DebounceClient("wrong", sleep=lambda s: None)
    with pytest.raises(Exception, match="401|Wrong API"):
        bad.verify("a@example.com")
    list_app = Starlette(routes=[Route("/list.csv", lambda r: __import__(
        "starlette.responses").responses.PlainTextResponse("a@example.com\nunknown1@example.com\n"))])  # fmt: skip
    with serve(list_app) as list_url:
        list_id = client.bulk_upload(f"{list_url}/list.csv")
        assert client.bulk_status(list_id)["download_link"] == ""
        done = client.bulk_status(list_id)
        assert [v.verdict for v in client.bulk_results(done["download_link"])] == [
            "safe",
            "unknown",
        ]


def test_verify_with_debounce_maps_codes_and_records_cost(ws, tmp_path, debounce):
    rows = month_rows(6) + ["invalid9@example.com,A,B,75201,2019-03-02,1",
                            "risky9@example.com,A,B,75201,2019-03-02,1"]  # fmt: skip
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", rows), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    out = verification.verify_stage(ws, 1, MONTH)
    assert out["mode"] == "debounce" and out["results"] == {"safe": 6, "risky": 1, "invalid": 1,
                                                            "unknown": 0}  # fmt: skip
    assert out["credits"] == 8
    row = ws.query("SELECT * FROM contacts WHERE email = 'risky9@example.com'").row(0, named=True)
    assert (row["status"], row["verification_code"], row["verification_source"]) == (
        "invalid", "4", "debounce")  # fmt: skip
    assert verification.verify_stage(ws, 1, MONTH)["input"] == 0


def test_verify_without_key_is_local_and_labelled(ws, tmp_path):
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(3)), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    out = verification.verify_stage(ws, 1, MONTH)
    assert out["mode"] == "local" and out["credits"] == 0
    assert ws.rows("SELECT DISTINCT verification_source FROM contacts") == [("local",)]
    assert verification.local_check("a..b@example.com")[0] == "invalid"
    assert verification.local_check("x@mailinator.com") == ("invalid", "disposable domain")


# -- runs: cancel mid-verify, retry, upload failing half-way ---------------------------------


def wait_run(db, run_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = db.scalar("SELECT status FROM pipeline_runs WHERE id = ?", [run_id])
        if st not in ("queued", "running"):
            return st
        time.sleep(0.05)
    raise AssertionError("run did not finish")


def test_cancel_mid_verify_then_retry_from_stage(ws, tmp_path, debounce):
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(1000)), actor="t")
    debounce.delay = 0.01
    run_id = pipeline.start_run(ws, ADMIN, 1, MONTH)
    with pytest.raises(pipeline.PipelineError, match="already in progress"):
        pipeline.start_run(ws, ADMIN, 1, MONTH)
    deadline = time.monotonic() + 20
    while ws.scalar("SELECT done FROM pipeline_stage_runs WHERE run_id = ? AND stage = 'verify'",
                    [run_id]) < 200:  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert pipeline.cancel_run(ws, ADMIN, run_id)
    assert wait_run(ws, run_id) == "cancelled"
    st = dict(ws.rows("SELECT stage, status FROM pipeline_stage_runs WHERE run_id = ?", [run_id]))
    assert st == {"filter": "succeeded", "verify": "cancelled", "batch": "pending",
                  "upload": "pending"}  # fmt: skip
    verified = ws.scalar("SELECT count(*) FROM contacts WHERE verification_result IS NOT NULL")
    assert 200 <= verified < 1000
    assert ws.scalar("SELECT count(*) FROM contacts WHERE status = 'verifying'") == 0
    # A process killed mid-chunk leaves contacts 'verifying'; they can be put back.
    ws.execute("UPDATE contacts SET status = 'verifying' WHERE id IN (SELECT id FROM contacts"
               " WHERE status = 'filtered' LIMIT 7)")  # fmt: skip
    assert verification.reset_stuck(ws, ADMIN, 1) == 7
    debounce.delay = 0
    calls = debounce.calls
    retry = pipeline.retry_run(ws, ADMIN, run_id)
    assert wait_run(ws, retry) == "failed"  # no upload campaign chosen
    assert debounce.calls - calls == 1000 - verified  # only the rest were verified
    st = dict(ws.rows("SELECT stage, status FROM pipeline_stage_runs WHERE run_id = ?", [retry]))
    assert st["filter"] == "skipped" and st["verify"] == "succeeded" and st["upload"] == "failed"
    assert "No upload campaign" in ws.scalar(
        "SELECT error FROM pipeline_runs WHERE id = ?", [retry]
    )


@pytest.fixture
def bison_factory(bison_url, bison_fake):
    def make(workspace_id: int) -> BisonClient:
        return BisonClient(bison_url, bison_fake.token_for(1), rate_per_sec=None, max_retries=1,
                           sleep=lambda s: None)  # fmt: skip

    return make


def test_batches_then_upload_failing_half_way_then_retry_and_revert(
    ws, tmp_path, bison_fake, bison_factory
):
    ws.execute("UPDATE package_tiers SET refined_contacts = 2400 WHERE tier = '100'")
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(3000)), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    verification.verify_stage(ws, 1, MONTH)
    out = batching.batch_stage(ws, 1, MONTH)
    assert out["output"] == 2400 and out["surplus"] == 600
    per_zip = ws.rows("SELECT zip, count(*) FROM contacts WHERE batch_id IS NOT NULL GROUP BY 1")
    assert {n for _, n in per_zip} == {800}  # sampled evenly by ZIP
    assert list(out["batches"]) == ["March 1st–7th renewals", "March 8th–14th renewals",
                                    "March 15th–21st renewals", "March 22nd–31st renewals"]  # fmt: skip
    assert batching.batch_stage(ws, 1, MONTH)["output"] == 0  # idempotent
    campaign = min(bison_fake.workspace(1).campaigns)
    uploads.set_campaigns(ws, ADMIN, 1, upload_campaign_id=campaign, evergreen_campaign_id=campaign)
    bison_fake.fail_path_after("/leads/create-or-update/multiple", succeed=1)
    with pytest.raises(uploads.UploadError, match="refused"):
        uploads.upload_stage(ws, 1, MONTH, client_factory=bison_factory)
    first = ws.query("SELECT status, uploaded_count FROM batches WHERE window_start = '2027-03-01'")
    assert first.row(0) == ("partially uploaded", 500)
    bison_fake.reset_faults()
    bison_fake.reset_requests()
    out = uploads.upload_stage(ws, 1, MONTH, client_factory=bison_factory)
    sent = sum(len(json.loads(r.body)["leads"]) for r in bison_fake.requests
               if r.path.endswith("create-or-update/multiple"))  # fmt: skip
    assert sent == 1900 and out["output"] == 1900
    assert ws.rows("SELECT DISTINCT status FROM batches WHERE contact_count > 0") == [("uploaded",)]
    assert uploads.upload_stage(ws, 1, MONTH, client_factory=bison_factory)["input"] == 0
    assert "March 1st–7th renewals" in {t["name"] for t in bison_fake.workspace(1).tags.values()}
    # The weekly evergreen step: attach the window 28 days ahead, rename, idempotent.
    r = uploads.evergreen(ws, today=dt.date(2027, 2, 8), client_factory=bison_factory)
    assert r["updated"] == ["Acme Insurance: March 8th–14th renewals → Evergreen, Last Upload: "
                            "March 8–14"]  # fmt: skip
    assert (
        bison_fake.workspace(1).campaigns[campaign]["name"] == "Evergreen, Last Upload: March 8–14"
    )
    again = uploads.evergreen(ws, today=dt.date(2027, 2, 8), client_factory=bison_factory)
    assert again["updated"] == [] and "already attached" in again["skipped"][0]
    batch_id = ws.scalar("SELECT id FROM batches WHERE window_start = '2027-03-01'")
    n = uploads.revert_upload(ws, ADMIN, batch_id, client_factory=bison_factory)
    assert n == ws.scalar("SELECT contact_count FROM batches WHERE id = ?", [batch_id])
    assert ws.scalar("SELECT status FROM batches WHERE id = ?", [batch_id]) == "pending"
    with pytest.raises(ValueError, match="revert the upload"):
        batching.delete_batches(ws, ADMIN, workspace_id=1, month=MONTH)
    assert batching.delete_batches(ws, ADMIN, batch_id=batch_id) == 1


def test_slack_notices_reach_a_local_receiver(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADOPS_ALLOW_PRIVATE_URLS", "1")  # the receiver is on 127.0.0.1
    got: list[dict] = []

    async def hook(request: Request) -> JSONResponse:
        got.append(await request.json())
        return JSONResponse({"ok": True})

    with serve(Starlette(routes=[Route("/services/T1/B2/secret", hook, methods=["POST"])])) as url:
        notices.set_webhook(ws, ADMIN, f"{url}/services/T1/B2/secret")
        import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(5)), actor="t")
        run_id = pipeline.create_run(ws, 1, MONTH, "filter", "t")
        with pytest.raises(pipeline.PipelineError):
            pipeline.execute_run(ws, run_id, None)
    assert got and got[0]["text"].startswith("*Refinement done* — Acme Insurance March 2027: 5 in")
    assert ws.scalar("SELECT delivered FROM notices") is True


def test_process_all_runs_every_client_with_pending_work(ws, tmp_path):
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(4)), actor="t")
    import_file(
        ws,
        2,
        write_contacts(tmp_path / "b.csv", month_rows(3, prefix="q", zips=("75206",))),
        actor="t",
    )
    assert pipeline.pending_workspaces(ws, MONTH) == [1, 2]
    with pytest.raises(jobs.PartialFailure, match="failed for 2 of 2 client") as failed:
        jobs.run(ws, "pipeline.process_all", {"month": "2027-03", "actor": "t"}, requested_by="t")
    out = failed.value.result  # the job ends partial, with what it did kept
    assert len(out["failed"]) == 2 and all("No upload campaign" in f for f in out["failed"])
    assert ws.scalar("SELECT status FROM jobs WHERE kind = 'pipeline.process_all'") == "partial"
    assert ws.scalar("SELECT count(*) FROM contacts WHERE status = 'batched'") == 7
    runs = pipeline.runs(ws, ADMIN.scope)
    assert set(runs["status"]) == {"failed"}
    stages = pipeline.stages(ws, int(runs["id"][0]))
    assert stages["stage"].to_list() == list(pipeline.STAGES)


def test_runtime_schedules_evergreen_on_mondays(ws):
    from core.app import Scheduler

    s = Scheduler(ws)
    monday = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    assert not s.evergreen_due(monday)  # no evergreen campaign yet
    uploads.set_campaigns(ws, ADMIN, 1, upload_campaign_id=1, evergreen_campaign_id=2)
    assert s.evergreen_due(monday)
    assert not s.evergreen_due(monday + dt.timedelta(days=1))


def test_concurrent_start_is_refused_while_a_run_is_live(ws, tmp_path):
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(3)), actor="t")
    run_id = pipeline.create_run(ws, 1, MONTH, "filter", "t")
    with pytest.raises(pipeline.PipelineError, match="already in progress"):
        pipeline.create_run(ws, 1, MONTH, "filter", "t")
    ws.execute(
        "UPDATE pipeline_runs SET created_at = now() - INTERVAL 5 MINUTE WHERE id = ?", [run_id]
    )
    assert pipeline.create_run(ws, 1, MONTH, "filter", "t") > run_id  # stale run closed
    assert ws.scalar("SELECT status FROM pipeline_runs WHERE id = ?", [run_id]) == "failed"


def test_pipeline_page_runs_a_client_and_shows_history(demo_db):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../streamlit_app.py", default_timeout=90)
    at.run()
    at.switch_page("pages/pipeline.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Pipeline"
    assert any("local checks only" in w.value for w in at.warning)
    from core.pipeline import run_check
    from core.platform import settings

    # greyed with its reason while a run cannot succeed
    wid = next(s for s in at.selectbox if s.label == "Client" and s.key != "workspace_id").value
    month = next(s for s in at.selectbox if s.label == "Renewal month").value
    run_button = next(b for b in at.button if b.label == "Run pipeline")
    assert run_button.disabled and run_button.proto.help == run_check.why_not(demo_db, wid, month)
    demo_db.execute(
        "INSERT INTO contacts (workspace_id, email, zip, status, renewal_month)"
        " VALUES (?, 'new.owner@example.com', '75201', 'raw', ?)",
        [wid, month],
    )
    settings.set_value(demo_db, "bison_url", "http://127.0.0.1:9", actor="t")
    token = secrets.bison_token_name(wid)
    secrets.set_secret(demo_db, token, "tok-test-0001", kind="bison_token", actor="t")
    assert run_check.why_not(demo_db, wid, month) is None
    at.run()
    run_button = next(b for b in at.button if b.label == "Run pipeline")
    assert not run_button.disabled
    run_button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_id = demo_db.scalar("SELECT max(id) FROM pipeline_runs")
    assert run_id is not None
    wait_run(demo_db, run_id, timeout=60)
    at.run()
    assert not at.exception
    assert any("Needed" == m.label for m in at.metric)


def test_gap_to_goal_uses_past_pass_rates(ws, tmp_path):
    from core.pipeline import gap

    ws.execute("UPDATE package_tiers SET refined_contacts = 100 WHERE tier = '100'")
    roles = [f"{r}@r{i}.com,A,B,75201,2019-03-02,1" for i, r in
             enumerate(["info", "sales", "admin", "support", "office"])]  # fmt: skip
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(20) + roles), actor="t")
    before = gap.gap_to_goal(ws, 1, MONTH)
    assert before["rates"]["filter"]["basis"].startswith("default")
    assert before["expected_from_pending"] == round(25 * 0.8 * 0.9)
    run_id = pipeline.create_run(ws, 1, MONTH, "filter", "t")
    with pytest.raises(pipeline.PipelineError, match="upload"):
        pipeline.execute_run(ws, run_id, None)
    g = gap.gap_to_goal(ws, 1, MONTH)
    assert (g["needed"], g["refined"], g["gap"]) == (100, 20, 80)
    assert g["rates"]["filter"]["rate"] == 0.8 and g["rates"]["verify"]["rate"] == 1.0
    assert g["recommended_pull"] == math.ceil(80 / (0.8 * 1.0) * (1 + 0.15))
    assert "80 ÷ (80.0% filter × 100.0% verify" in g["arithmetic"]
    ways = gap.ways_to_close(ws, 1, MONTH)
    assert ways.height >= 1 and ways["adds"].to_list() == sorted(
        ways["adds"].to_list(), reverse=True
    )
