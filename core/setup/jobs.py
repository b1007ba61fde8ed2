"""Jobs of the setup domain, for the command line (`leadops setup`, `leadops settings …`): they run
here or in the running app, like every command, so they work while the app holds the database."""

from __future__ import annotations

from typing import Any

from core.accounts import access
from core.platform import connections, jobs, settings
from core.platform.store import Database
from core.setup import checklist, connection_tests


def _local_admin(params: dict[str, Any]) -> access.User:
    """Whoever runs the command line on the server works as a local admin (like local mode)."""
    return access.User(params.get("actor") or "local", "admin", local=True)


@jobs.job("setup.check")
def setup_check_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """The setup checklist; with `test`, Test every configured connection and client token first."""
    tested: dict[str, Any] = {}
    if params.get("test"):
        user = _local_admin(params)
        progress.update("testing connections")
        tested = {k: list(v) for k, v in connection_tests.test_configured(db, user).items()}
        if connections.bison_url(db):
            progress.update("testing client tokens")
            tokens = connection_tests.test_client_tokens(db, user)
            tested |= {f"token: {name}": list(v) for name, v in tokens.items()}
    progress.update("checking")
    result = checklist.build(db, remote_text=True).as_dict()
    return {**result, "tested": tested}


def describe(db: Database, name: str) -> dict[str, Any]:
    """One setting as the shell shows it: value, default, type, help, and any override in force."""
    s = settings.REGISTRY[name]
    out: dict[str, Any] = {
        "name": name,
        "value": settings.get(db, name),
        "default": s.default,
        "type": s.type.__name__,
        "help": s.help,
        "choices": list(s.choices) if s.choices else None,
        "override": None,
    }
    if name in connections.OVERRIDES and connections.override(name):
        out["override"] = {
            "variable": connections.OVERRIDES[name],
            "value": connections.without_password(connections.override(name) or ""),
        }
    return out


@jobs.job("settings.show")
def settings_show_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Every setting (or the one named), with its value and default."""
    name = params.get("name")
    if name and name not in settings.REGISTRY:
        raise jobs.JobError(f"Unknown setting {name!r}. `leadops settings list` names them all.")
    names = [name] if name else list(settings.REGISTRY)
    return {"settings": [describe(db, n) for n in names]}


@jobs.job("settings.set")
def settings_set_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Change one setting as Settings → General does (checked, audited)."""
    name = params.get("name") or ""
    before = settings.get(db, name) if name in settings.REGISTRY else None
    try:
        settings.set_value(db, name, params.get("value"), actor=params["actor"])
    except settings.SettingError as exc:
        raise jobs.JobError(str(exc)) from None
    return {**describe(db, name), "before": before}
