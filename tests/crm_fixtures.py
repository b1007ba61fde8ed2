"""Fixtures for the fake CRM receivers (import them into a test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.demo.sandbox.serving import AppSlot, serve
from tests.fakes.crm_server import CrmFake


@pytest.fixture(scope="session")
def crm_server() -> Iterator[tuple[AppSlot, str]]:
    slot = AppSlot()
    with serve(slot) as url:
        yield slot, url


@pytest.fixture
def crm_fake(crm_server, monkeypatch) -> Iterator[CrmFake]:
    # the fake listens on 127.0.0.1, which CRM URLs may reach only with this switch
    monkeypatch.setenv("LEADOPS_ALLOW_PRIVATE_URLS", "1")
    slot, _ = crm_server
    fake = CrmFake()
    slot.app = fake
    yield fake
    slot.app = None


@pytest.fixture
def crm_url(crm_server, crm_fake) -> str:
    return crm_server[1]


class MemoryKeyring:
    """An in-process keyring for tests that store many secrets: the encrypted file's key
    derivation (Argon2) takes seconds per call, which says nothing about the code under test."""

    priority = 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, name: str, value: str) -> None:
        self.values[(service, name)] = value

    def get_password(self, service: str, name: str) -> str | None:
        return self.values.get((service, name))

    def delete_password(self, service: str, name: str) -> None:
        self.values.pop((service, name), None)


@pytest.fixture
def memory_keyring(monkeypatch) -> MemoryKeyring:
    from core.platform import secrets

    kr = MemoryKeyring()
    monkeypatch.setattr(secrets, "backend", lambda: kr)
    secrets._cache.clear()
    yield kr
    secrets._cache.clear()
