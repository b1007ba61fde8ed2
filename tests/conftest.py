"""Shared fixtures: an isolated database and secret store per test, and a demo database template."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from core.platform import store

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 23)  # the demo's "today" in tests, so numbers are stable
ARTIFACTS = ROOT / "test-artifacts"

pytest_plugins = [
    f"tests.{name}"
    for name in ("conftest_bison", "conftest_stripe")
    if (Path(__file__).parent / f"{name}.py").exists()
]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own database path and throw-away encrypted secret store."""
    monkeypatch.setenv("LEADOPS_DB", str(tmp_path / "leadops.duckdb"))
    monkeypatch.setenv("LEADOPS_KEYRING", "cryptfile")
    monkeypatch.setenv("LEADOPS_KEYRING_FILE", str(tmp_path / "secrets.cfg"))
    monkeypatch.setenv("LEADOPS_KEYRING_PASSWORD", "test-master-password")
    monkeypatch.setenv("LEADOPS_ACTOR", "test:runner")
    yield
    from core.app import stop_app_runtime

    stop_app_runtime()
    store.close_all()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A small demo database built once per test session; tests copy it."""
    from core.demo.loader import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    db = store.Database(path)
    db.migrate()
    load_demo(db, scale="small", seed=42, as_of=AS_OF)
    db.close()
    return path


@pytest.fixture
def demo_db(demo_template, tmp_path) -> store.Database:
    """A private copy of the demo database, opened as the process's database."""
    target = Path(os.environ["LEADOPS_DB"])
    shutil.copy(demo_template, target)
    return store.get_db(target)


@pytest.fixture
def empty_db(migrated_template) -> store.Database:
    """A migrated database with no clients, opened as the process's database."""
    target = Path(os.environ["LEADOPS_DB"])
    shutil.copy(migrated_template, target)
    return store.get_db(target)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("empty") / "empty.duckdb"
    db = store.Database(path)
    db.migrate()
    db.close()
    return path
