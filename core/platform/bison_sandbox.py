"""Whether this process talks to the demo sandbox: the simulated Email Bison that `leadops serve`
runs on the loopback for a demo database when no Email Bison address is configured
(core/demo/sandbox). The sandbox lives in the demo package; this module holds only the fact, so
pages and the rest of core can say so without importing the demo.

While the sandbox is on, this process's Email Bison address (`LEADOPS_BISON_URL`, which
`connections.bison_url` reads first) is the sandbox's; `deactivate` puts back what was there.
"""

from __future__ import annotations

import os
import threading

from core.platform import connections, settings
from core.platform.store import Database

LABEL = "Demo sandbox: Email Bison here is a local simulation"

_lock = threading.Lock()
_url: str | None = None
_saved_env: dict[str, str | None] = {}
_note: str | None = None


def activate(url: str, env: dict[str, str]) -> None:
    """Point this process at the sandbox at `url`: set `env` (LEADOPS_BISON_URL and the like),
    keeping the values they replace for `deactivate`."""
    global _url
    with _lock:
        for name, value in env.items():
            if name not in _saved_env:
                _saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        _url = url


def deactivate() -> None:
    """This process no longer uses the sandbox: its environment is as before `activate`."""
    global _url
    with _lock:
        for name, value in _saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _saved_env.clear()
        _url = None
    set_note(None)


def url() -> str | None:
    """The sandbox's address while this process's Email Bison is the sandbox, else None."""
    current = _url
    if current and connections.bison_url(None) == current:
        return current
    return None


def in_use() -> bool:
    return url() is not None


def set_note(text: str | None) -> None:
    """What staff should know about the sandbox now (e.g. a client it could not give a token)."""
    global _note
    _note = text


def note() -> str | None:
    return _note if in_use() else None


def configured_url(db: Database | None) -> str:
    """The real Email Bison address configured ('' if none): `connections.bison_url`, leaving
    out the sandbox's own."""
    found = connections.bison_url(db)
    if _url and found == _url:
        if _saved_env.get(connections.OVERRIDES["bison_url"]):
            return str(_saved_env[connections.OVERRIDES["bison_url"]]).strip()
        return str(settings.get(db, "bison_url") or "").strip() if db is not None else ""
    return found
