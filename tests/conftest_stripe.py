"""localstripe (a stateful fake Stripe server) on 127.0.0.1 for the whole session, and an SDK
client that talks to it. Each test starts from an empty fake account."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.localstripe_server", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"localstripe did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("localstripe did not answer within 20 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def stripe_url(localstripe_server, monkeypatch):
    """An empty fake Stripe account; LEADOPS_STRIPE_URL and STRIPE_API_KEY point at it."""
    req = urllib.request.Request(f"{localstripe_server}/_config/data", method="DELETE")
    urllib.request.urlopen(req, timeout=5)
    monkeypatch.setenv("LEADOPS_STRIPE_URL", localstripe_server)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_leadops_fake_0000")
    return localstripe_server


@pytest.fixture
def sdk(stripe_url):
    """The official SDK pointed at the fake (no retries: the fake's 500s show at once)."""
    import stripe

    return stripe.StripeClient(
        os.environ["STRIPE_API_KEY"], base_addresses={"api": stripe_url}, max_network_retries=0
    )
