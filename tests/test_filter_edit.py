"""Filter rules can be edited (only the parts given change) and deleted: core, the command line
and the Pipeline page's Rules tab; every change audited."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.accounts import access
from core.pipeline import filters
from core.platform import store
from tests.test_pages import APP
from tests.test_pipeline import ws  # noqa: F401  (the two-client fixture)

ADMIN = access.LOCAL_ADMIN


def test_edit_keeps_what_is_not_given_and_checks_the_rest(ws):  # noqa: F811
    rid = filters.save_rule(
        ws, ADMIN, name="no 75204", field="zip", operator="equals", value="75204"
    )
    rule = filters.edit_rule(ws, ADMIN, rid, value="75205", workspace_id=1)
    assert (rule["name"], rule["value"], rule["workspace_id"]) == ("no 75204", "75205", 1)
    stored = ws.query("SELECT * FROM filter_rules WHERE id = ?", [rid]).row(0, named=True)
    assert (stored["field"], stored["operator"], stored["value"]) == ("zip", "equals", "75205")
    with pytest.raises(filters.RuleError, match="Field: 'shoe_size' is not one of"):
        filters.edit_rule(ws, ADMIN, rid, field="shoe_size")
    with pytest.raises(filters.RuleError, match="has no colour"):
        filters.edit_rule(ws, ADMIN, rid, colour="red")
    with pytest.raises(filters.RuleError, match="No filter rule 999"):
        filters.edit_rule(ws, ADMIN, 999, name="x")
    with pytest.raises(access.PermissionDenied):
        filters.edit_rule(ws, access.User("o@a.com", "operator"), rid, name="x")
    filters.delete_rule(ws, ADMIN, rid)
    with pytest.raises(filters.RuleError, match=f"No filter rule {rid}"):
        filters.delete_rule(ws, ADMIN, rid)
    assert ws.rows(
        "SELECT action FROM audit_log WHERE entity = 'filter_rule' AND entity_id = ? ORDER BY id",
        [str(rid)],
    ) == [("filter_rule.save",), ("filter_rule.save",), ("filter_rule.delete",)]


def test_edit_from_the_command_line(ws):  # noqa: F811
    rid = filters.save_rule(
        ws, ADMIN, name="big homes", field="home_value", operator="gt", value="900000"
    )
    ws.close()
    store.close_all()
    from core.cli.main import app

    run = CliRunner().invoke
    r = run(
        app, ["filters", "edit", "big homes", "--value", "750000", "--workspace", "Acme Insurance"]
    )
    assert r.exit_code == 0, r.output
    assert f"Rule {rid} is now: big homes (home_value gt 750000)." in r.output
    r = run(app, ["filters", "edit", str(rid), "--workspace", "all", "--name", "very big homes"])
    assert r.exit_code == 0, r.output
    r = run(app, ["filters", "edit", str(rid)])
    assert r.exit_code == 1 and "Say what to change" in r.output
    r = run(app, ["filters", "edit", str(rid), "--operator", "sounds_like"])
    assert r.exit_code == 1 and "Operator" in r.output
    db = store.get_db()
    row = db.query("SELECT * FROM filter_rules WHERE id = ?", [rid]).row(0, named=True)
    assert (row["name"], row["value"], row["workspace_id"]) == ("very big homes", "750000", None)


def test_edit_and_delete_on_the_pipeline_page(ws):  # noqa: F811
    rid = filters.save_rule(
        ws, ADMIN, name="no 75204", field="zip", operator="equals", value="75204"
    )
    ws.close()
    store.close_all()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/pipeline.py")
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="rule-edit-pick").set_value(rid).run()
    form_name = next(
        t for t in at.text_input if t.label == "Name (the reject reason)" and t.value == "no 75204"
    )
    form_name.set_value("not downtown")
    next(b for b in at.button if b.label == "Save the rule").click().run()
    assert not at.exception, at.exception
    db = store.get_db()
    assert db.scalar("SELECT name FROM filter_rules WHERE id = ?", [rid]) == "not downtown"
    at.checkbox(key=f"rule-del-sure-{rid}").check().run()
    at.button(key="rule-del").click().run()
    assert db.scalar("SELECT count(*) FROM filter_rules WHERE id = ?", [rid]) == 0
