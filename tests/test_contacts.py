"""The contacts workbench end to end: search across clients with paging and a streamed CSV, a
contact's story (file row, rules, verification, batch, upload), edits, moves with the territory
check, and deletion requests that delete the lead in the fake Email Bison (real HTTP)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from core.accounts import access
from core.contacts import changes, erasure, search, story
from core.pipeline import batching, filters, uploads, verification
from core.pipeline.contact_import import import_file
from core.platform.scope import Scope
from tests.test_pipeline import (  # noqa: F401  (fixtures)
    MONTH,
    bison_factory,
    write_contacts,
    ws,
)

ADMIN = access.LOCAL_ADMIN
VIEWER = access.User("viewer@agency.example", "viewer")
HEADER = "email,first_name,last_name,cell_phone,zip,purchase_date,home_value"


def people(n: int, prefix: str = "p", zips=("75201", "75204", "75205")) -> list[str]:
    return [
        f"{prefix}{i}@example.com,First{i},Last{i},(214) 555-{i:04d},{zips[i % len(zips)]},"
        f"2019-03-{(i % 28) + 1:02d},300000"
        for i in range(n)
    ]


@pytest.fixture
def loaded(ws, tmp_path):  # noqa: F811
    """120 contacts for Acme (one row a role account, rejected by the filter), filtered and
    verified locally."""
    rows = people(119) + ["info@acme-example.com,Role,Account,2145550000,75201,2019-03-05,1"]
    import_file(ws, 1, write_contacts(tmp_path / "march.csv", rows, HEADER), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    verification.verify_stage(ws, 1, MONTH)
    return ws


def cid(db, email: str) -> int:
    return db.scalar("SELECT id FROM contacts WHERE email = ?", [email])


def test_search_filters_pages_counts_and_streams_csv(loaded):
    db, everyone = loaded, Scope.all()
    page, total = search.search(db, everyone, search.ContactFilter(), limit=50)
    assert total == 120 and page.height == 50
    rest, _ = search.search(db, everyone, search.ContactFilter(), limit=50, offset=100)
    assert rest.height == 20 and not set(rest["id"]) & set(page["id"])  # pages do not overlap
    f = search.ContactFilter(email="P1")  # p1, p10-p19, p100-p118
    assert search.count(db, everyone, f) == 1 + 10 + 19
    second, total = search.search(db, everyone, f, limit=10, offset=10)  # the text path
    assert total == 30 and second.height == 10 and second["id"].is_sorted(descending=True)
    assert all(e.startswith("p1") for e in second["email"]) and set(second["client"]) == {
        "Acme Insurance"
    }
    phone, n = search.search(db, everyone, search.ContactFilter(phone="(214) 555-0042"))
    assert n == 1 and phone["phone"].to_list() == ["(214) 555-0042"]
    assert search.count(db, everyone, search.ContactFilter(name="first42  last42")) == 1
    assert search.count(db, everyone, search.ContactFilter(name="LAST4")) == 11  # 4, 40-49
    assert search.count(db, everyone, search.ContactFilter(zip="75204")) == 40
    assert search.count(db, everyone, search.ContactFilter(zip="752")) == 120
    assert search.count(db, everyone, search.ContactFilter(status="rejected")) == 1
    assert search.count(db, everyone, search.ContactFilter(renewal_month=MONTH)) == 120
    assert search.count(db, everyone, search.ContactFilter(workspace_id=2)) == 0
    assert search.count(db, Scope.only([2]), search.ContactFilter()) == 0  # another client's user
    with pytest.raises(search.SearchError, match="not a ZIP"):
        search.count(db, everyone, search.ContactFilter(zip="7520x"))
    with pytest.raises(search.SearchError, match="Status: 'sent' is not one of"):
        search.count(db, everyone, search.ContactFilter(status="sent"))
    with pytest.raises(search.SearchError, match="is not a month"):
        search.parse_month("March")
    out = io.StringIO()
    assert search.write_csv(db, everyone, f, out) == 30
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 30 and {r["client"] for r in rows} == {"Acme Insurance"}
    assert all(r["email"].startswith("p1") for r in rows)


def test_story_tells_origin_rules_verification_batch_and_upload(
    loaded,
    bison_fake,
    bison_factory,  # noqa: F811
):
    db = loaded
    role = story.story(db, Scope.all(), cid(db, "info@acme-example.com"))
    assert role["origin"]["file"] == "march.csv" and role["origin"]["row"] == 120
    d = role["decisions"].to_dicts()
    assert [(x["kind"], x["rule"], x["reason"]) for x in d] == [
        ("filter", "role account", "rejected")
    ]
    db.execute("UPDATE package_tiers SET refined_contacts = 100 WHERE tier = '100'")
    batching.batch_stage(db, 1, MONTH)
    campaign = min(bison_fake.workspace(1).campaigns)
    uploads.set_campaigns(db, ADMIN, 1, upload_campaign_id=campaign, evergreen_campaign_id=None)
    uploads.upload_stage(db, 1, MONTH, client_factory=bison_factory)
    uploaded = db.scalar("SELECT min(id) FROM contacts WHERE status = 'uploaded'")
    s = story.story(db, Scope.all(), uploaded)
    assert s["origin"]["row"] == uploaded - db.scalar("SELECT min(id) FROM contacts") + 1
    assert [x["kind"] for x in s["decisions"].to_dicts()] == ["verify"]
    assert s["decisions"]["reason"][0] == "safe" and s["decisions"]["rule"][0] == "local"
    assert s["upload"]["batch"]["name"].endswith("renewals")
    assert s["upload"]["bison_lead_id"] in bison_fake.workspace(1).leads
    with pytest.raises(story.NotFound):
        story.story(db, Scope.only([2]), uploaded)


def test_edit_and_move_check_the_territory_and_are_audited(loaded):
    db = loaded
    c = cid(db, "p3@example.com")
    with pytest.raises(changes.ChangeError, match="not an email address"):
        changes.edit(db, ADMIN, c, "email", "nope")
    with pytest.raises(changes.ChangeError, match="cannot be edited"):
        changes.edit(db, ADMIN, c, "status", "uploaded")
    with pytest.raises(access.PermissionDenied):
        changes.edit(db, VIEWER, c, "first_name", "Ann")
    assert changes.edit(db, ADMIN, c, "first_name", "Ann")["before"] == "First3"
    with pytest.raises(changes.OutsideTerritory, match="75206 is not in Acme Insurance's .*Lone"):
        changes.edit(db, ADMIN, c, "zip", "75206")
    with pytest.raises(changes.OutsideTerritory, match="belongs to Acme Insurance"):
        changes.move(db, ADMIN, c, 2)
    moved = changes.move(db, ADMIN, c, 2, outside_territory=True)
    assert moved == {"from": "Acme Insurance", "to": "Lone Star HNW"}
    row = db.query("SELECT workspace_id, status, batch_id FROM contacts WHERE id = ?", [c])
    assert row.row(0) == (2, "raw", None)
    kinds = db.rows(
        "SELECT kind, rule FROM contact_events WHERE contact_id = ? ORDER BY occurred_at", [c]
    )
    assert ("edit", "first_name") in kinds and ("move", "client") in kinds
    actions = [a for (a,) in db.rows("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["contact.edit", "contact.move"]
    changes.delete(db, ADMIN, c)
    assert db.scalar("SELECT count(*) FROM contacts WHERE id = ?", [c]) == 0


def test_deletion_request_deletes_the_lead_in_email_bison_and_suppresses(
    loaded,
    tmp_path,
    bison_fake,
    bison_factory,  # noqa: F811
):
    db = loaded
    db.execute("UPDATE package_tiers SET refined_contacts = 100 WHERE tier = '100'")
    batching.batch_stage(db, 1, MONTH)
    campaign = min(bison_fake.workspace(1).campaigns)
    uploads.set_campaigns(db, ADMIN, 1, upload_campaign_id=campaign, evergreen_campaign_id=None)
    uploads.upload_stage(db, 1, MONTH, client_factory=bison_factory)
    email, lead_id = db.query(
        "SELECT email, bison_lead_id FROM contacts WHERE status = 'uploaded' ORDER BY id LIMIT 1"
    ).row(0)
    assert lead_id in bison_fake.workspace(1).leads
    p = erasure.plan(db, ADMIN, email.upper())
    assert [(c["client"], c["contacts"], c["lead_ids"]) for c in p["clients"]] == [
        ("Acme Insurance", 1, [lead_id])
    ]
    with pytest.raises(access.PermissionDenied):
        erasure.execute(db, VIEWER, email)
    bison_fake.fail_path_after(f"/leads/{lead_id}", succeed=0)
    with pytest.raises(erasure.ErasureError, match="nothing was removed here"):
        erasure.execute(db, ADMIN, email, client_factory=bison_factory)
    assert db.scalar("SELECT count(*) FROM contacts WHERE email = ?", [email]) == 1
    bison_fake.reset_faults()
    out = erasure.execute(db, ADMIN, email, client_factory=bison_factory)
    assert out["deleted_in_bison"] == 1
    assert lead_id not in bison_fake.workspace(1).leads  # gone in Email Bison
    assert db.scalar("SELECT count(*) FROM contacts WHERE lower(email) = ?", [email]) == 0
    assert db.query("SELECT reason, source FROM suppression_list WHERE email_key = ?", [email]).row(
        0
    ) == ("deletion request", "privacy")
    entry = json.loads(
        db.scalar("SELECT after FROM audit_log WHERE action = 'contact.deletion_request'")
    )
    assert entry["deleted_in_bison"] == 1 and entry["clients"][0]["contacts"] == 1
    # A later import brings the person back as a contact only to be rejected as suppressed.
    again = write_contacts(tmp_path / "again.csv", [f"{email},A,B,1,75201,2019-03-02,1"], HEADER)
    import_file(db, 1, again, actor="t")
    filters.filter_stage(db, 1, MONTH)
    assert db.query("SELECT status, reject_reason FROM contacts WHERE email = ?", [email]).row(
        0
    ) == ("rejected", "suppressed")


def test_month_parsing():
    assert search.parse_month("2027-03") == dt.date(2027, 3, 1)
    assert search.parse_month("") is None
