"""Pytest plugin: a fake Email Bison served over real HTTP on 127.0.0.1.

Load it with ``pytest_plugins = ["tests.conftest_bison"]``. One uvicorn server
runs per session; each test gets a fresh, seeded :class:`BisonFake` installed
behind it, so state and fault knobs never leak between tests.

Fixtures:
    bison_server     session: ``.url`` and ``.install(fake) -> url``
    bison_fake       a fresh ``BisonFake(seed=7)`` (2 workspaces), installed
    bison_url        the instance root URL (pass to ``BisonClient``; it adds ``/api``)
    make_bison_fake  factory: ``make_bison_fake(**BisonFake kwargs)`` installs and returns a fake
    bison_client     ``BisonClient`` for workspace 1 (no client-side rate limit, no real sleeps)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.bison import BisonClient
from core.demo.sandbox import AppSlot, BisonFake, serve


@dataclass
class BisonServer:
    slot: AppSlot
    url: str

    def install(self, fake: Any) -> str:
        self.slot.app = fake
        return self.url


@pytest.fixture(scope="session")
def bison_server() -> Iterator[BisonServer]:
    slot = AppSlot()
    with serve(slot) as url:
        yield BisonServer(slot, url)


@pytest.fixture
def make_bison_fake(bison_server: BisonServer) -> Iterator[Callable[..., BisonFake]]:
    def make(**kwargs: Any) -> BisonFake:
        fake = BisonFake(**{"seed": 7, **kwargs})
        bison_server.install(fake)
        return fake

    yield make
    bison_server.install(None)


@pytest.fixture
def bison_fake(make_bison_fake: Callable[..., BisonFake]) -> BisonFake:
    return make_bison_fake()


@pytest.fixture
def bison_url(bison_server: BisonServer, bison_fake: BisonFake) -> str:
    return bison_server.url


@pytest.fixture
def bison_client(bison_url: str, bison_fake: BisonFake) -> Iterator[BisonClient]:
    client = BisonClient(
        bison_url,
        bison_fake.token_for(1),
        rate_per_sec=None,
        timeout=5.0,
        sleep=lambda seconds: None,
    )
    yield client
    client.close()
