"""The Contacts page on the demo: search with counts and pages, a contact's story, an edit that
asks about the territory, and the suppression list tab's search and single changes."""

from __future__ import annotations

from tests.test_pages import run_page


def test_find_then_story_then_edit_on_the_demo(demo_db):
    email, cid, wid, batch = demo_db.query(
        "SELECT email, id, workspace_id, batch_id FROM contacts WHERE batch_id IS NOT NULL"
        " ORDER BY id LIMIT 1"
    ).row(0)
    at = run_page("pages/contacts.py")
    assert at.title[0].value == "Contacts"
    total = demo_db.scalar("SELECT count(*) FROM contacts")
    assert any(f"**{total:,}** contacts match" in m.value for m in at.markdown)
    at.text_input(key="f_email").set_value(email.upper())
    at.button[0].click().run()  # the form's Search
    assert any("**1** contacts match" in m.value for m in at.markdown), [
        m.value for m in at.markdown
    ]
    next(n for n in at.number_input if n.label == "Contact number").set_value(cid).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert email in " ".join(s.value for s in at.subheader) and f"Batch {batch}:" in shown
    outside = demo_db.scalar("SELECT min(zip) FROM zip_assignments WHERE workspace_id <> ?", [wid])
    field = next(s for s in at.selectbox if s.label == "Field")
    field.set_value("zip")
    next(t for t in at.text_input if t.label == "New value").set_value(outside)
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("not in" in w.value and "territory" in w.value for w in at.warning), at.warning
    assert demo_db.scalar("SELECT zip FROM contacts WHERE id = ?", [cid]) != outside


def test_suppression_tab_searches_adds_and_removes(demo_db):
    at = run_page("pages/contacts.py")
    next(t for t in at.text_area if t.label.startswith("Addresses, one")).set_value(
        "new.person@example.com, not-an-address"
    )
    next(t for t in at.text_input if t.label.startswith("Reason (required")).set_value("phoned")
    next(b for b in at.button if b.label == "Add").click().run()
    assert any("1 added" in s.value for s in at.success), at.success
    assert any("not-an-address" in w.value for w in at.warning)
    at.text_input(key="s_text").set_value("new.person").run()
    assert any("**1** addresses match" in m.value for m in at.markdown)
    next(t for t in at.text_area if t.label == "Addresses to remove").set_value(
        "new.person@example.com"
    )
    next(b for b in at.button if b.label == "Remove").click().run()
    assert any("Reason" in e.value for e in at.error)  # a removal needs a reason
    assert demo_db.scalar(
        "SELECT count(*) FROM suppression_list WHERE email_key = 'new.person@example.com'"
    )


def test_deletion_request_asks_first_and_changes_nothing_when_email_bison_is_unreachable(demo_db):
    cid, email = demo_db.query(
        "SELECT c.id, c.email FROM contacts c JOIN bison_leads l ON l.workspace_id ="
        " c.workspace_id AND l.contact_id = c.id ORDER BY c.id LIMIT 1"
    ).row(0)
    at = run_page("pages/contacts.py")
    next(n for n in at.number_input if n.label == "Contact number").set_value(cid).run()
    shown = " ".join(c.value for c in at.caption)
    assert "1 lead(s) will be deleted in Email Bison first." in shown
    assert demo_db.scalar("SELECT count(*) FROM contacts WHERE id = ?", [cid]) == 1  # asked only
    at.button(key="del-request").click().run()
    assert any("nothing was removed here" in e.value for e in at.error), at.error
    assert demo_db.scalar("SELECT count(*) FROM contacts WHERE id = ?", [cid]) == 1
    assert not demo_db.scalar("SELECT count(*) FROM suppression_list WHERE email_key = ?", [email])
