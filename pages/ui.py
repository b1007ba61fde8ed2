"""Helpers every page shares: the database, the caller's scope, cached queries, tables with CSV."""

from __future__ import annotations

import datetime as dt
import importlib
import runpy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from core import settings
from core.exports import frame_to_csv  # noqa: F401  (re-exported for pages)
from core.runtime import start_app_runtime
from core.scope import Scope
from core.store import Database

_router = threading.local()
ROUTER = Path(__file__).resolve().parent.parent / "streamlit_app.py"


@contextmanager
def router_running() -> Iterator[None]:
    """Marks this script run as going through the router (streamlit_app.py)."""
    _router.active = True
    try:
        yield
    finally:
        _router.active = False


def ensure_router() -> None:
    """Run this page inside the router (navigation, client picker, sign-in), never on its own.

    Because a `pages/` folder exists, Streamlit starts each server in its old multipage mode,
    in which the first deep link (e.g. /campaigns) runs that page's script directly. A page
    calls this first; if the router is not running, the router runs here (it routes to the
    same page, keeping the URL and any widget values of this run) and this direct run stops.
    """
    if getattr(_router, "active", False):
        return
    runpy.run_path(str(ROUTER), run_name="__main__")
    st.stop()


def db() -> Database:
    return start_app_runtime()


def actor() -> str:
    user = st.session_state.get("user_email")
    return user or "local:admin"


def user_scope() -> Scope:
    """Everything the signed-in user may see (all clients in local mode)."""
    return Scope.all()


def scope() -> Scope:
    """The user's scope narrowed by the sidebar's client picker."""
    return user_scope().narrow(st.session_state.get("workspace_id"))


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


def pct(n: float | None, digits: int = 1) -> str:
    return "–" if n is None else f"{n * 100:.{digits}f}%"


def delta_pct(now: float, before: float) -> str | None:
    if not before:
        return None
    return f"{(now - before) / before * 100:+.1f}%"
