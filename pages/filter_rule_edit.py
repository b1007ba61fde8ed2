"""Pipeline page, Rules tab: edit or delete a filter rule (admins; audited)."""

from __future__ import annotations

import streamlit as st

from core.accounts import access
from core.pipeline import filters
from core.platform.store import Database
from pages import ui


def edit_rules(db: Database, user: access.User, labels: dict[int, str]) -> None:
    rules = filters.list_rules(db)
    if not ui.can("pipeline.rules") or rules.height == 0:
        return
    with st.expander("Edit or delete a rule", icon=":material/edit:"):
        names = dict(zip(rules["id"].to_list(), rules["name"].to_list(), strict=True))
        rid = st.selectbox(
            "Rule", list(names), format_func=lambda i: f"{i} · {names[i]}", key="rule-edit-pick"
        )
        rule = db.query("SELECT * FROM filter_rules WHERE id = ?", [rid]).row(0, named=True)
        fields, ops = list(filters.FIELDS), list(filters.OPERATORS)
        with st.form(f"rule-edit-{rid}"):
            e1, e2, e3, e4 = st.columns(4)
            name = e1.text_input("Name (the reject reason)", value=rule["name"])
            field = e2.selectbox(
                "Field",
                fields,
                index=fields.index(rule["field"]) if rule["field"] in fields else 0,
            )
            op = e3.selectbox(
                "Operator",
                ops,
                index=ops.index(rule["operator"]) if rule["operator"] in ops else 0,
                format_func=lambda o: filters.OPERATORS[o][0],
            )
            value = e4.text_input("Value", value=rule["value"] or "")
            choices = [None, *labels]
            applies = st.selectbox(
                "Applies to",
                choices,
                index=choices.index(rule["workspace_id"]) if rule["workspace_id"] in choices else 0,
                format_func=lambda w: "All clients" if w is None else labels[w],
            )
            position = st.number_input("Position", 0, 10_000, int(rule["position"]))
            if st.form_submit_button("Save the rule", icon=":material/save:"):
                try:
                    filters.edit_rule(
                        db,
                        user,
                        rid,
                        name=name,
                        field=field,
                        operator=op,
                        value=value or None,
                        workspace_id=applies,
                        position=int(position),
                    )
                    st.session_state["rule_flash"] = f"Rule {rid} saved."
                    st.rerun()
                except filters.RuleError as exc:
                    st.error(ui.md(exc))
        sure = st.checkbox(
            f"Yes, delete “{rule['name']}”: contacts it rejected stay rejected until the next run",
            key=f"rule-del-sure-{rid}",
        )
        if st.button(
            "Delete the rule", disabled=not sure, icon=":material/delete:", key="rule-del"
        ):
            filters.delete_rule(db, user, rid)
            st.session_state["rule_flash"] = f"Rule {rid} deleted."
            st.rerun()
    flash = st.session_state.pop("rule_flash", None)
    if flash:
        st.success(flash)
