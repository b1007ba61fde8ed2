"""First run on a headless server: no OS keyring, no LEADOPS_KEYRING* variables, a fresh HOME.

Every page renders and reads no secret store into being; a secret read is "not set"; the first
secret saved (from the page or the command line) sets up the encrypted file with a generated key
in `secrets.key` beside the database (0600, written once), which a new process then reads with;
LEADOPS_KEYRING_PASSWORD still wins when set.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.accounts import access, credentials
from core.platform import secrets
from tests.test_pages import APP, PAGES

ROOT = Path(__file__).resolve().parent.parent
ADMIN = access.LOCAL_ADMIN
VALUE = "dbk_FirstRunDebounceKey_7f3e"
KEYRING_VARS = ("LEADOPS_KEYRING", "LEADOPS_KEYRING_FILE", "LEADOPS_KEYRING_PASSWORD")
NO_OS_KEYRING = "keyring.backends.fail.Keyring"  # how a child process is told there is none


@pytest.fixture
def first_run(monkeypatch, tmp_path):
    """No secret store configured: no LEADOPS_KEYRING* variables, a fresh HOME, no OS keyring."""
    for var in KEYRING_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_OS_KEYRING)
    monkeypatch.setattr(secrets, "_system_backend", lambda: None)  # as on a headless server
    secrets._cache.clear()
    return tmp_path


def _store_files(root: Path) -> list[Path]:
    return [p for name in ("secrets.key", "secrets.cfg") if (p := root / name).exists()]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_no_secret_store(first_run, demo_db, page):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _store_files(first_run) == []  # rendering reads; it never sets a store up


def test_a_missing_secret_says_so_and_links_to_settings(first_run, demo_db):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/pipeline.py")
    at.run()
    assert any("no Debounce key" in w.value for w in at.warning)
    links = [e for e in at.get("page_link") if "settings" in str(e.proto.page).lower()]
    assert links, "the page links to Settings"
    at.switch_page("pages/settings.py")
    at.run()
    assert any("not set up yet" in i.value for i in at.info)  # the vault says which store


def test_reading_with_no_store_is_not_set(first_run, empty_db):
    status = secrets.store_status()
    assert status.state == "not_set_up" and "secrets.key" in status.summary
    assert secrets.get_secret("debounce") is None
    assert secrets.get_by_kind(empty_db, "debounce_key", "debounce") is None
    secrets.delete_secret(empty_db, "nothing.here", actor="t")  # nothing to delete: no error
    assert _store_files(first_run) == []


def _read_in_new_process(tmp_path: Path, name: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in KEYRING_VARS}
    env["PYTHON_KEYRING_BACKEND"] = NO_OS_KEYRING
    code = (
        "import hashlib; from core.platform import secrets\n"
        f"v = secrets.get_secret({name!r})\n"
        "print(secrets.store_status().state, v and hashlib.sha256(v.encode()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_first_save_writes_the_key_once_and_a_new_process_reads_with_it(first_run, empty_db):
    key_file = first_run / "secrets.key"
    masked = credentials.save(empty_db, ADMIN, "debounce.main", "debounce_key", VALUE)
    assert masked == "…7f3e"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (first_run / "secrets.cfg").exists()
    key = key_file.read_bytes()
    assert len(key.strip()) >= 40 and VALUE.encode() not in (first_run / "secrets.cfg").read_bytes()
    status = secrets.store_status()
    assert status.state == "key_file" and str(key_file) in status.summary and not status.problem
    credentials.save(empty_db, ADMIN, "stripe.main", "stripe_key", "sk_test_SecondOne_0000")
    assert key_file.read_bytes() == key  # written once
    secrets._cache.clear()
    assert secrets.get_secret("debounce.main") == VALUE
    expected = hashlib.sha256(VALUE.encode()).hexdigest()
    assert _read_in_new_process(first_run, "debounce.main") == f"key_file {expected}"


def test_a_loose_key_file_is_reported(first_run, empty_db):
    credentials.save(empty_db, ADMIN, "debounce.main", "debounce_key", VALUE)
    os.chmod(first_run / "secrets.key", 0o644)
    assert "chmod 600" in (secrets.store_status().problem or "")


def test_the_keyring_password_still_wins(first_run, empty_db, monkeypatch):
    monkeypatch.setenv("LEADOPS_KEYRING_PASSWORD", "a-master-password-from-the-environment")
    credentials.save(empty_db, ADMIN, "debounce.main", "debounce_key", VALUE)
    assert not (first_run / "secrets.key").exists()
    assert secrets.store_status().state == "password"
    assert "LEADOPS_KEYRING_PASSWORD" in secrets.describe_backend()


def test_the_command_line_sets_the_store_up_too_and_status_names_it(first_run, empty_db):
    from core.cli.main import app

    empty_db.close()  # the command opens the file itself
    runner = CliRunner()
    out = runner.invoke(app, ["status"])
    assert out.exit_code == 0 and "Secrets: not set up yet" in out.output
    out = runner.invoke(
        app, ["credentials", "set", "debounce.main", "--kind", "debounce_key"], input=VALUE + "\n"
    )
    assert out.exit_code == 0, out.output
    assert "Saved debounce.main (debounce_key): …7f3e" in out.output and VALUE not in out.output
    assert stat.S_IMODE((first_run / "secrets.key").stat().st_mode) == 0o600
    out = runner.invoke(app, ["status"])
    assert f"key in {first_run / 'secrets.key'}" in out.output
    expected = hashlib.sha256(VALUE.encode()).hexdigest()
    assert _read_in_new_process(first_run, "debounce.main") == f"key_file {expected}"
