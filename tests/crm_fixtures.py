"""Fixtures for the fake CRM receivers (import them into a test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.crm_server import CrmFake
from tests.fakes.serving import AppSlot, serve


@pytest.fixture(scope="session")
def crm_server() -> Iterator[tuple[AppSlot, str]]:
    slot = AppSlot()
    with serve(slot) as url:
        yield slot, url


@pytest.fixture
def crm_fake(crm_server) -> Iterator[CrmFake]:
    slot, _ = crm_server
    fake = CrmFake()
    slot.app = fake
    yield fake
    slot.app = None


@pytest.fixture
def crm_url(crm_server, crm_fake) -> str:
    return crm_server[1]
