"""Territories: the ZIP map (select, assign, conflicts, undo), coverage, search, bulk files."""

import datetime as dt

import polars as pl
import streamlit as st

from core.accounts import workspaces
from core.accounts.access import PermissionDenied
from core.platform import settings
from core.territories import assignments as territories
from core.territories import bulk as territory_bulk
from core.territories import reports as territory_reports
from core.territories.geo import TerritoryError, ZipFilter, unlocated_zips, zip_table
from pages import ui
from pages.components import territory_maps

ui.ensure_router("territories")
st.title("Territories")
database = ui.db()
user = ui.current_user()
sc = ui.user_scope()  # the map shows every owner the user may see, whatever the sidebar picks
editable = ui.can("territory.manage")
style = ui.cached(settings.get, None, "territory_map_style")
client_names = ui.cached(workspaces.labels, sc)
ss = st.session_state
ss.setdefault("terr_map_n", 0)

flash = ss.pop("terr_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")


def label_client(wid: int | None) -> str:
    return "—" if wid is None else client_names.get(wid, str(wid))


def clear_selection(message: str) -> None:
    ss["terr_map_n"] += 1
    ss.pop("terr_selected", None)
    ss["terr_flash"] = message


@st.fragment
def edit_panel(picked: list[str], flt: ZipFilter, drawn: int) -> None:
    """Assign or unassign ZIPs with a preview. A fragment: its widgets rerun only this panel,
    so the map (a few MB) is not sent again on every click."""
    st.subheader("Edit")
    if not editable:
        st.info("Your role can look at territories but not change them.")
    else:
        c1, c2 = st.columns([1, 2])
        source = c1.radio(
            "ZIPs to change",
            ["selection", "shown", "typed"],
            format_func=lambda s: {
                "selection": "Selected on the map",
                "shown": "Every ZIP shown",
                "typed": "Typed or pasted",
            }[s],
            key="terr_source",
        )
        typed_bad: list[str] = []
        if source == "typed":
            zips, typed_bad = territories.parse_zip_list(
                c2.text_area("ZIP codes", key="terr_typed", height=100, max_chars=200_000)
            )
        elif source == "shown":
            zips = ui.cached(zip_table, sc, flt)["zip"].to_list()
        else:
            zips = picked
        c1.caption(f"{len(zips):,} ZIP code(s) picked.")
        if typed_bad:
            c2.warning(
                f"Not ZIP codes, ignored: {ui.md(', '.join(typed_bad[:20]))}"
                + (" …" if len(typed_bad) > 20 else "")
            )
        a1, a2 = st.columns([1, 2])
        action = a1.radio(
            "Action",
            ["assign", "unassign"],
            format_func=lambda a: "Assign to client" if a == "assign" else "Unassign",
            horizontal=True,
            key="terr_action",
        )
        target = a2.selectbox(
            "Client" if action == "assign" else "From client",
            ([] if action == "assign" else [None]) + list(client_names),
            format_func=lambda w: "Every owner" if w is None else label_client(w),
            key=f"terr_target_{action}",
        )
        if not zips:
            st.caption("Select ZIPs on the map (or pick another source) to see what would change.")
        elif action == "assign" and target is None:
            st.warning("Add a client first (Settings → Clients).")
        else:
            preview = (
                territories.preview_assign(database, target, zips)
                if action == "assign"
                else territories.preview_unassign(database, zips, target)
            )
            n = preview.counts
            if action == "assign":
                m1, m2, m3, m4 = st.columns(4)
                m1.metric("New", f"{n['new']:,}", border=True)
                m2.metric("Owned by another client", f"{n['conflict']:,}", border=True)
                m3.metric("Already owned", f"{n['already']:,}", border=True)
                m4.metric("Unknown", f"{n['unknown']:,}", border=True)
            else:
                m1, m2 = st.columns(2)
                m1.metric("Will be unassigned", f"{n['remove']:,}", border=True)
                m2.metric("Not assigned", f"{n['not_owned']:,}", border=True)
            take = False
            if action == "assign" and n["conflict"]:
                owners_of = preview.of("conflict")["owners"].unique().to_list()
                if preview.shared:
                    st.warning(
                        f"**Conflict:** {n['conflict']:,} ZIP(s) already belong to "
                        f"{ui.md(', '.join(owners_of[:6]))}. Shared ZIPs are allowed, so applying "
                        f"adds {ui.md(preview.workspace)} beside them.",
                        icon=":material/warning:",
                    )
                else:
                    st.error(
                        f"**Conflict:** {n['conflict']:,} ZIP(s) already belong to "
                        f"{ui.md(', '.join(owners_of[:6]))}. Territories are exclusive: they are "
                        "left out unless you take them over.",
                        icon=":material/warning:",
                    )
                    take = st.checkbox(
                        f"Take these {n['conflict']:,} ZIP(s) from their current clients",
                        key="terr_take",
                    )
            with st.expander("ZIP by ZIP", expanded=bool(n["conflict"])):
                ui.table(
                    preview.rows.with_columns(
                        pl.col("status").replace_strict(territories.STATUS_LABELS)
                    ),
                    name="territory-preview",
                    key="terr-preview-table",
                    height=240,
                )
            changes = preview.will_change(take)
            verb = "Assign" if action == "assign" else "Unassign"
            if st.button(
                f"{verb} {changes:,} ZIP(s)",
                type="primary",
                disabled=changes == 0,
                key="terr_apply",
                icon=":material/done:",
            ):
                try:
                    if action == "assign":
                        res = territories.assign(database, user, target, zips, take_conflicts=take)
                    else:
                        res = territories.unassign(database, user, zips, workspace_id=target)
                except (TerritoryError, PermissionDenied) as exc:
                    st.error(ui.md(exc))
                else:
                    clear_selection(f"{res.summary}. Change #{res.change_id} applied.")
                    st.rerun()

        last = territories.last_change(database)
        if last:
            with st.popover(
                "Undo last change",
                icon=":material/undo:",
                help="Reverts the newest change exactly.",
            ):
                st.write(
                    f"#{last['id']} · {ui.md(last['summary'])} · by {ui.md(last['actor'])} "
                    f"at {last['created_at']:%Y-%m-%d %H:%M} UTC"
                )
                if st.button("Yes, undo it", type="primary", key="terr_undo"):
                    res = territories.undo_last(database, user)
                    if res:
                        clear_selection(
                            f"{res.summary}: {res.added:,} restored, {res.removed:,} unassigned."
                        )
                    st.rerun()


def tile_notice(style: str) -> None:
    """A one-line notice under a map, shown by the browser only when the base map cannot load."""
    html = territory_maps.tile_notice_html(style)
    if html:
        st.iframe(html, height=32)  # our own constant HTML: a notice and one tile to try


TABS = ["Map", "Coverage", "Search", "Bulk", "History"]
tab_map, tab_cov, tab_search, tab_bulk, tab_hist = st.tabs(
    TABS, key="terr_tab", on_change="rerun", default="Map"
)

# -- map ---------------------------------------------------------------------------------------
if tab_map.open:
    with tab_map:
        f1, f2, f3, f4 = st.columns([2, 2, 2, 1])
        states = f1.multiselect(
            "States", ui.cached(territory_reports.state_codes, None), key="terr_states"
        )
        county = f2.text_input("County contains", key="terr_county", max_chars=80)
        owners = f3.multiselect(
            "Owner", list(client_names), format_func=label_client, key="terr_owners"
        )
        only_free = f4.checkbox("Only unassigned", key="terr_free")
        r1, r2, r3 = st.columns([2, 1, 4])
        center = r1.text_input(
            "Radius around (ZIP or city)",
            key="terr_center",
            placeholder="78701 or Austin, TX",
            max_chars=80,
        )
        miles = r2.number_input(
            "Miles", min_value=1.0, max_value=500.0, value=25.0, step=5.0, key="terr_miles"
        )
        flt = ZipFilter(
            states=tuple(states),
            county=county,
            center=center,
            radius_miles=miles if center.strip() else 0.0,
            owner_ids=tuple(owners),
            only_unassigned=only_free,
        )
        focus = ss.get("terr_focus")
        try:
            fig, trace_zips, drawn = ui.cached(territory_maps.zip_map_for, sc, flt, style, focus)
        except TerritoryError as exc:
            st.error(ui.md(exc))
            st.stop()
        if focus:
            r3.caption(f"Centred on {ui.md(focus[3] if len(focus) > 3 else '')}")
            if r3.button("Reset map view", icon=":material/zoom_out_map:"):
                ss.pop("terr_focus", None)
                st.rerun()
        no_place = ui.cached(unlocated_zips, None)
        st.caption(
            f"{drawn:,} ZIP codes shown. "
            + (
                f"Not on the map: {int(no_place['zips'].sum()):,} US ZIP codes that have no map "
                "location ("
                + ", ".join(f"{n:,} {t}" for t, n in no_place.iter_rows())
                + "); Coverage counts them, and they can be assigned by typing them. "
                if no_place.height
                else ""
            )
            + "Drag a box or draw a lasso on the map to select ZIPs "
            "(box and lasso tools are at the top right of the map); double-click clears it."
        )
        event = st.plotly_chart(
            fig,
            key=f"zipmap-{ss['terr_map_n']}",
            on_select="rerun",
            selection_mode=("box", "lasso"),
            config={"scrollZoom": True, "displaylogo": False},
        )
        tile_notice(style)
        picked = territory_maps.selected_zips(event, trace_zips)
        ss["terr_selected"] = picked

        edit_panel(picked, flt, drawn)


# -- coverage ----------------------------------------------------------------------------------
if tab_cov.open:
    with tab_cov:
        cov_scope = ui.scope()
        who = label_client(ss.get("workspace_id")) if ss.get("workspace_id") else "whole agency"
        st.caption(
            f"Coverage for the {ui.md(who)}; pick a client in the sidebar to see one client."
        )
        states_df = ui.cached(territory_reports.state_coverage, cov_scope)
        assigned = int(states_df["assigned"].sum()) if states_df.height else 0
        k1, k2, k3 = st.columns(3)
        k1.metric("ZIPs assigned", f"{assigned:,}", border=True)
        k2.metric(
            "States with ZIPs", f"{states_df.filter(pl.col('assigned') > 0).height:,}", border=True
        )
        no_place_cov = ui.cached(unlocated_zips, None)
        k3.metric(
            "US ZIP codes",
            f"{int(states_df['total'].sum()):,}",
            help=(
                "Every US ZIP code, with the "
                f"{int(no_place_cov['zips'].sum()):,} that have no map location (mostly military "
                "APO/FPO addresses), which the map leaves out."
            ),
            border=True,
        )
        st.plotly_chart(
            territory_maps.coverage_choropleth(
                states_df, title=f"Share of each state's ZIPs assigned ({who})"
            ),
            key="terr-choropleth",
            config={**ui.GEO_CONFIG, "scrollZoom": False, "displaylogo": False},
        )
        with st.expander("Per state"):
            ui.table(
                states_df.with_columns((pl.col("share") * 100).round(2).alias("share")).rename(
                    {"share": "share_pct"}
                ),
                name="territory-states",
                key="terr-states-table",
            )
        st.subheader("Per client")
        ui.table(
            ui.cached(territory_reports.client_coverage, cov_scope),
            name="territory-coverage",
            key="terr-cov",
            column_config={
                "zips": st.column_config.NumberColumn("ZIPs", format="localized"),
                "contacts_available": st.column_config.NumberColumn(
                    "Contacts available", format="localized"
                ),
                "contacts_verified": st.column_config.NumberColumn("Verified", format="localized"),
                "state_list": "State list",
            },
        )
        st.subheader("Contacts available per ZIP")
        layer = st.radio(
            "View", ["hexagon", "column"], horizontal=True, format_func=str.title, key="terr_layer"
        )
        points = ui.cached(zip_table, cov_scope, ZipFilter())
        points = points.filter(pl.col("contacts") > 0)
        if points.height == 0:
            st.info("No contacts in any ZIP yet.")
        else:
            st.pydeck_chart(
                territory_maps.density_deck(points, style=style, layer=layer), height=460
            )
            tile_notice(style)
            st.caption(f"{int(points['contacts'].sum()):,} contacts in {points.height:,} ZIPs.")

# -- search ------------------------------------------------------------------------------------
if tab_search.open:
    with tab_search:
        q = st.text_input("Find a ZIP, city or county", key="terr_q", max_chars=80)
        if q.strip():
            found = ui.cached(territory_reports.search_zips, sc, q)
            if found.height == 0:
                st.info(f"Nothing matches {ui.md(q)}.")
            else:
                ui.table(found, name="zip-search", key="terr-search", height=260)
                pick = st.selectbox(
                    "Show on the map",
                    found["zip"].to_list(),
                    format_func=lambda z: (
                        lambda r: f"{z} {r['city']}, {r['state']} — {r['owner'] or 'unassigned'}"
                    )(found.row(by_predicate=pl.col("zip") == z, named=True)),
                    key="terr_jump",
                )

                def jump(zip_code: str = pick) -> None:
                    r = found.row(by_predicate=pl.col("zip") == zip_code, named=True)
                    ss["terr_focus"] = (r["lat"], r["lon"], 10.0, f"{zip_code} {r['city']}")
                    ss["terr_tab"] = "Map"

                st.button("Jump the map to it", on_click=jump, icon=":material/my_location:")
        st.subheader("Owner lookup")
        pasted = st.text_area(
            "Paste ZIP codes (any separator)", key="terr_lookup", height=120, max_chars=200_000
        )
        if pasted.strip():
            found, bad = territory_reports.owner_lookup(database, sc, pasted)
            if bad:
                st.warning(f"Not ZIP codes, ignored: {ui.md(', '.join(bad[:20]))}")
            if found.height:
                ui.table(found, name="zip-owners", key="terr-owners", height=300)

# -- bulk --------------------------------------------------------------------------------------
if tab_bulk.open:
    with tab_bulk:
        st.subheader("Import assignments")
        st.caption(
            "A CSV with `zip,client` rows, or the master list with one column per client "
            "(the client's name as header, its ZIPs below). Comma or semicolon separated."
        )
        upload = st.file_uploader("Assignment file", type=["csv", "txt"], key="terr_upload")
        if upload is not None and not editable:
            st.info("Your role can look at territories but not change them.")
        elif upload is not None:
            try:
                check = territory_bulk.check_file(database, upload.getvalue())
            except TerritoryError as exc:
                st.error(ui.md(exc))
            else:
                n = check.counts
                b1, b2, b3, b4 = st.columns(4)
                b1.metric("New", f"{n['new']:,}", border=True)
                b2.metric("Owned by another client", f"{n['conflict']:,}", border=True)
                b3.metric("Already owned", f"{n['already']:,}", border=True)
                b4.metric("Rejected", f"{n['rejected']:,}", border=True)
                st.caption(f"Layout: {check.layout}. {' '.join(check.notes)}")
                take = False
                if n["conflict"]:
                    if check.shared:
                        st.warning(
                            f"**Conflict:** {n['conflict']:,} row(s) give ZIPs other clients own; "
                            "shared ZIPs are allowed, so they are added beside the owners.",
                            icon=":material/warning:",
                        )
                    else:
                        st.error(
                            f"**Conflict:** {n['conflict']:,} row(s) give ZIPs other clients own; they "
                            "are left out unless you take them over.",
                            icon=":material/warning:",
                        )
                        take = st.checkbox(
                            "Take them from their current clients", key="terr_bulk_take"
                        )
                ui.table(
                    check.rows.drop("workspace_id"),
                    name="territory-file-check",
                    key="terr-bulk-rows",
                    height=260,
                )
                report = check.report(take)
                if report.height:
                    st.download_button(
                        f"Download the rejection report ({report.height:,} rows)",
                        data=check.report_csv(take),
                        file_name=f"territory-rejections-{dt.date.today():%Y%m%d}.csv",
                        mime="text/csv",
                        icon=":material/download:",
                        on_click="ignore",
                    )
                to_apply = n["new"] + (n["conflict"] if (check.shared or take) else 0)
                if st.button(
                    f"Apply {to_apply:,} assignment(s)",
                    type="primary",
                    disabled=to_apply == 0,
                    key="terr_bulk_apply",
                ):
                    try:
                        res = territory_bulk.apply_file(
                            database, user, check, take_conflicts=take, name=upload.name
                        )
                    except PermissionDenied as exc:
                        st.error(ui.md(exc))
                    else:
                        clear_selection(f"{res.summary}. Change #{res.change_id} applied.")
                        ss.pop("terr_upload", None)
                        st.rerun()

        st.subheader("Bulk delete")
        if not editable:
            st.info("Your role can look at territories but not change them.")
        else:
            how = st.radio(
                "Delete",
                ["selection", "client", "file"],
                format_func=lambda h: {
                    "selection": "ZIPs selected on the map",
                    "client": "Every ZIP of a client",
                    "file": "ZIPs listed in a file",
                }[h],
                horizontal=True,
                key="terr_del_how",
            )
            del_client = st.selectbox(
                "From client",
                ([None] if how != "client" else []) + list(client_names),
                format_func=lambda w: "Every owner" if w is None else label_client(w),
                key=f"terr_del_client_{how}",
            )
            del_file = (
                st.file_uploader("File of ZIP codes", type=["csv", "txt"], key="terr_del_file")
                if how == "file"
                else None
            )
            if how == "selection":
                st.caption(
                    f"{len(ss.get('terr_selected') or []):,} ZIP code(s) selected on the Map tab."
                )
            sure = st.checkbox("Yes, remove these assignments", key="terr_del_sure")
            if st.button(
                "Delete assignments", disabled=not sure, key="terr_del", icon=":material/delete:"
            ):
                try:
                    if how == "selection":
                        res = territories.unassign(
                            database,
                            user,
                            ss.get("terr_selected") or [],
                            workspace_id=del_client,
                            kind="delete",
                            note="map selection",
                        )
                    elif how == "client":
                        res = territories.unassign_client(database, user, del_client)
                    elif del_file is None:
                        raise TerritoryError("File: upload the list of ZIP codes first.")
                    else:
                        res, _bad = territory_bulk.delete_listed(
                            database,
                            user,
                            del_file.getvalue(),
                            workspace_id=del_client,
                            name=del_file.name,
                        )
                except (TerritoryError, PermissionDenied) as exc:
                    st.error(ui.md(exc))
                else:
                    if res.change_id is None:
                        st.info("Nothing to delete: none of those ZIPs is assigned.")
                    else:
                        clear_selection(
                            f"{res.summary}. Change #{res.change_id} applied (undo on the Map tab)."
                        )
                        st.rerun()

        st.subheader("Export")
        e1, e2 = st.columns([2, 1])
        exp_client = e1.selectbox(
            "Client",
            [None] + list(client_names),
            format_func=lambda w: "All clients" if w is None else label_client(w),
            key="terr_exp_client",
        )
        fmt = e2.radio(
            "Format", ["csv", "json"], horizontal=True, format_func=str.upper, key="terr_exp_fmt"
        )
        exp_scope = sc.narrow(exp_client)
        st.download_button(
            f"Download assignments ({fmt.upper()})",
            data=lambda: territory_reports.export_bytes(database, exp_scope, fmt),
            file_name=f"territories-{dt.date.today():%Y%m%d}.{fmt}",
            mime="text/csv" if fmt == "csv" else "application/json",
            icon=":material/download:",
            on_click="ignore",
            key="terr_export",
        )

# -- history -----------------------------------------------------------------------------------
if tab_hist.open:
    with tab_hist:
        st.caption("Every change set; undo reverts the newest one not undone yet (Map tab).")
        ui.table(ui.cached(territories.history, sc), name="territory-changes", key="terr-hist")
