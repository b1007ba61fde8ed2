"""Hostile outbound URLs (server-side request forgery) and what remote servers answer.

With LEADOPS_ALLOW_PRIVATE_URLS unset (conftest unsets it), CRM and Slack URLs that point at
loopback, link-local (cloud metadata), private, multicast/reserved or non-http(s) destinations
are refused when saved and again when sent, after DNS; a changed CRM URL needs its token again;
what a remote server answered is shown to admins only, cut short.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.testing.v1 import AppTest

from connectors import slack
from connectors.http import ApiError, BlockedDestination, check_url, make_client
from core.accounts import access, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.demo.sandbox import serve
from core.guardrails import delivery as alert_delivery
from core.pipeline import notices
from core.platform import secrets
from core.replies import crm_config, crm_delivery, crm_views
from tests import crm_fixtures
from tests.fakes.crm_server import LOCATION, TOKEN, WEBHOOK_SECRET

crm_server = crm_fixtures.crm_server
crm_fake = crm_fixtures.crm_fake
crm_url = crm_fixtures.crm_url
memory_keyring = crm_fixtures.memory_keyring

ADMIN = access.User(email="ops@agency.test", role="admin")
ALLOW = "LEADOPS_ALLOW_PRIVATE_URLS"
PUBLIC_IP = "93.184.216.34"  # a global unicast address (example.com's old one)
HOSTILE = [
    "http://127.0.0.1:8080/hooks",
    "http://localhost:9/crm",  # a name (in /etc/hosts) that resolves to loopback
    "http://169.254.169.254/latest/meta-data/iam/",  # the cloud metadata service
    "http://10.1.2.3/",
    "http://172.16.5.4:8443/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",  # shared address space
    "http://0.0.0.0:8080/",
    "http://224.0.0.251/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]/",  # loopback written as IPv4-mapped IPv6
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://metadata.internal.test/",  # resolves (below) to the metadata address
]
NOT_HTTP = ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"]


@pytest.fixture
def dns(monkeypatch):
    """Names this test resolves itself; every other name goes to the real resolver."""
    names: dict[str, list[str]] = {"metadata.internal.test": ["169.254.169.254"]}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in names[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


class Listener:
    """Anything listening on 127.0.0.1: records what reaches it, answers with a long body."""

    def __init__(self, status: int = 401) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.status = status
        self.app = Starlette(routes=[Route("/{path:path}", self.any, methods=["GET", "POST"])])

    async def any(self, request: Request) -> JSONResponse:
        self.seen.append((request.method, request.url.path, request.headers.get("authorization")))
        body = {"message": "LISTENER-SAYS " + "internal detail " * 100}
        return JSONResponse(body, status_code=self.status)

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture
def listener():
    box = Listener()
    with serve(box) as url:
        box.url = url
        yield box


@pytest.fixture
def client_id(memory_keyring, empty_db):
    return workspaces.create(empty_db, WorkspaceInput(name="Sunbelt Insurance"), actor="t")


# -- the guard (connectors/http) -----------------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE + NOT_HTTP)
def test_check_url_refuses_hostile_destinations(url, dns):
    with pytest.raises(BlockedDestination):
        check_url(url)


def test_check_url_passes_public_and_unresolvable_and_the_switch(dns, monkeypatch):
    dns["crm.example.test"] = [PUBLIC_IP]
    check_url(f"https://{PUBLIC_IP}/v1")
    check_url("https://crm.example.test/api")
    check_url("https://no-such-name.invalid/")  # checked again when sent
    monkeypatch.setenv(ALLOW, "1")
    for url in HOSTILE:
        check_url(url)
    for url in NOT_HTTP:  # the scheme check stays
        with pytest.raises(BlockedDestination):
            check_url(url)


def test_every_request_is_checked_after_dns_and_pinned_to_the_checked_address(dns):
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"ok": True})

    dns["crm.example.test"] = [PUBLIC_IP]
    api = make_client(
        "https://crm.example.test/api",
        "tok-123456789",
        transport=httpx.MockTransport(answer),
        public_only=True,
        rate_per_sec=None,
    )
    assert api.get("contacts") == {"ok": True}
    assert sent[-1].url.host == PUBLIC_IP and sent[-1].headers["host"] == "crm.example.test"
    assert sent[-1].extensions["sni_hostname"] == "crm.example.test"
    # the name now answers a private address too (DNS rebinding): refused, nothing sent
    for addresses in ([PUBLIC_IP, "127.0.0.1"], ["169.254.169.254"], ["::1"]):
        dns["crm.example.test"] = addresses
        with pytest.raises(BlockedDestination, match="crm.example.test resolves to"):
            api.get("contacts")
    assert len(sent) == 1
    for url in HOSTILE:  # a client made on a hostile URL sends nothing either
        with pytest.raises(BlockedDestination):
            make_client(url, transport=httpx.MockTransport(answer), public_only=True).get("x")
    assert len(sent) == 1


def test_a_pinned_https_request_still_verifies_the_certificate_of_the_name(
    dns, monkeypatch, tmp_path
):
    """The connection goes to the checked address, while TLS (SNI and certificate) and the Host
    header keep the name: a certificate for the name passes, one for another name does not."""
    import datetime as dt
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from connectors.http import destinations

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm.example.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("crm.example.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    seen: list[tuple[str | None, str | None]] = []
    server_names: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.headers.get("host"), self.headers.get("authorization")))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    server_ctx.sni_callback = lambda sock, sni, ctx: server_names.append(sni)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    # the listener is on loopback: let the guard treat it as public for this one test
    monkeypatch.setattr(destinations, "blocked_reason", lambda address: None)
    dns["crm.example.test"] = ["127.0.0.1"]
    dns["other.example.test"] = ["127.0.0.1"]
    trust = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert_file)))
    try:
        api = make_client(
            f"https://crm.example.test:{port}", "tok-123456789", transport=trust, public_only=True
        )
        assert api.get("contacts") == {}
        assert seen == [(f"crm.example.test:{port}", "Bearer tok-123456789")]
        assert server_names == ["crm.example.test"]
        other = make_client(
            f"https://other.example.test:{port}", transport=trust, public_only=True, max_retries=0
        )
        with pytest.raises(ApiError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            other.get("contacts")
        assert len(seen) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_redirects_are_never_followed(dns):
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/"})

    dns["hooks.example.test"] = [PUBLIC_IP]
    api = make_client(
        "https://hooks.example.test/",
        transport=httpx.MockTransport(answer),
        public_only=True,
        max_retries=0,
    )
    with pytest.raises(ApiError, match="unexpected redirect"):
        api.post("in", {"a": 1})
    assert sent == [f"https://{PUBLIC_IP}/in"]


# -- CRM: at save, at send -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crm_type", "extra"),
    [
        ("hubspot", {"token": TOKEN}),
        ("gohighlevel", {"token": TOKEN, "location_id": LOCATION}),
        ("webhook", {"secret": WEBHOOK_SECRET}),
    ],
)
def test_hostile_crm_urls_are_refused_when_saved(empty_db, client_id, dns, crm_type, extra):
    for url in HOSTILE + NOT_HTTP:
        with pytest.raises(crm_config.CrmConfigError, match="^URL: "):
            crm_config.set_config(empty_db, ADMIN, client_id, crm_type, url=url, **extra)
    assert empty_db.scalar("SELECT count(*) FROM crm_configs") == 0
    assert secrets.get_secret(crm_config.token_name(client_id)) is None  # nothing kept


def test_a_url_that_turns_private_is_refused_when_sent(
    empty_db, client_id, dns, listener, monkeypatch
):
    """A HubSpot URL saved while it resolved to a public address, then resolving to a listener on
    127.0.0.1: the test and the deliveries send nothing there, the token least of all."""
    port = httpx.URL(listener.url).port
    dns["crm.example.test"] = [PUBLIC_IP]
    url = f"http://crm.example.test:{port}"
    crm_config.set_config(empty_db, ADMIN, client_id, "hubspot", url=url, token=TOKEN)
    dns["crm.example.test"] = ["127.0.0.1"]
    ok, message = crm_config.test_connection(empty_db, ADMIN, client_id)
    assert not ok and "resolves to 127.0.0.1" in message and ALLOW in message
    # and a URL stored before this guard existed, pointing straight at the listener
    empty_db.execute("UPDATE crm_configs SET url = ?", [f"http://localhost:{port}"])
    ok, message = crm_config.test_connection(empty_db, ADMIN, client_id)
    assert not ok and "localhost resolves to" in message
    empty_db.execute(
        "INSERT INTO client_leads (workspace_id, email, first_interested_at) VALUES (?, ?, now())",
        [client_id, "jo@example.com"],
    )
    assert crm_delivery.enqueue(empty_db) == 1
    counts = crm_delivery.deliver_pending(empty_db, sleep=lambda s: None)
    assert counts == {"delivered": 0, "retrying": 0, "failed": 1}  # refused: never retried
    assert "refused to send" in empty_db.scalar("SELECT last_error FROM crm_deliveries")
    assert listener.seen == []
    assert empty_db.scalar("SELECT count(*) FROM crm_attempts") == 0
    # the switch lets it through (local testing, on-premise CRMs)
    monkeypatch.setenv(ALLOW, "1")
    ok, message = crm_config.test_connection(empty_db, ADMIN, client_id)
    assert not ok and listener.seen and listener.seen[0][2] == f"Bearer {TOKEN}"


def test_webhook_urls_are_checked_when_sent(empty_db, client_id, dns, listener, monkeypatch):
    monkeypatch.setenv(ALLOW, "1")
    crm_config.set_config(
        empty_db, ADMIN, client_id, "webhook", url=f"{listener.url}/hooks", secret=WEBHOOK_SECRET
    )
    monkeypatch.delenv(ALLOW)
    ok, message = crm_config.test_connection(empty_db, ADMIN, client_id)
    assert not ok and "loopback" in message and listener.seen == []


# -- a changed URL needs the token again ---------------------------------------------------------


def test_changing_a_crm_url_needs_its_token_again(empty_db, client_id, crm_url, listener):
    db, wid = empty_db, client_id
    crm_config.set_config(db, ADMIN, wid, "hubspot", url=crm_url, token=TOKEN)
    # the same address keeps the stored token (e.g. turning deals on)
    crm_config.set_config(db, ADMIN, wid, "hubspot", url=crm_url, create_deal=True)
    for url in (f"{listener.url}/", listener.url, None):  # another address, or the default
        with pytest.raises(crm_config.CrmConfigError, match="^Token: .*paste its access token"):
            crm_config.set_config(db, ADMIN, wid, "hubspot", url=url)
    with pytest.raises(crm_config.CrmConfigError, match="^Token: "):  # another CRM, same token
        crm_config.set_config(db, ADMIN, wid, "gohighlevel", url=crm_url, location_id=LOCATION)
    assert db.scalar("SELECT url FROM crm_configs") == crm_url
    ok, _ = crm_config.test_connection(db, ADMIN, wid)
    assert ok and listener.seen == []  # the token never went to the new address
    crm_config.set_config(db, ADMIN, wid, "hubspot", url=listener.url, token="pat-new-token-2")
    assert db.scalar("SELECT url FROM crm_configs") == listener.url
    # a webhook's signing secret is bound to its URL the same way
    crm_config.set_config(
        db, ADMIN, wid, "webhook", url=f"{crm_url}/hooks/leads", secret=WEBHOOK_SECRET
    )
    with pytest.raises(crm_config.CrmConfigError, match="^Signing secret: .*URL changed"):
        crm_config.set_config(db, ADMIN, wid, "webhook", url=f"{listener.url}/hooks")
    fresh = crm_config.new_webhook_secret()
    out = crm_config.set_config(
        db, ADMIN, wid, "webhook", url=f"{listener.url}/hooks", generated_secret=fresh
    )
    assert out == {"secret_generated": True}
    assert secrets.get_secret(crm_config.webhook_secret_name(wid)) == fresh


# -- remote answers: admins only, cut short ------------------------------------------------------


def test_what_a_crm_answered_is_for_admins_only(empty_db, client_id, listener, monkeypatch):
    monkeypatch.setenv(ALLOW, "1")
    db, wid = empty_db, client_id
    crm_config.set_config(db, ADMIN, wid, "hubspot", url=listener.url, token=TOKEN)
    ok, message = crm_config.test_connection(db, ADMIN, wid)
    assert not ok and message.startswith("Failed: HTTP 401") and "LISTENER-SAYS" in message
    remote = message.split(": ", 2)[2]
    assert len(remote) <= crm_config.REMOTE_TEXT_CHARS + 1 and TOKEN not in message
    db.execute(
        "INSERT INTO client_leads (workspace_id, email, first_interested_at) VALUES (?, ?, now())",
        [wid, "jo@example.com"],
    )
    crm_delivery.enqueue(db)
    assert crm_delivery.deliver_pending(db, sleep=lambda s: None)["failed"] == 1
    client = access.User("agent@client.test", "client", workspace_id=wid)
    for user in (client, access.User("op@agency.test", "operator")):
        shown = crm_views.sees_remote_text(user)
        assert shown is False
        log = crm_views.attempts_log(db, user.scope, remote_text=shown)
        rows = crm_views.deliveries(db, user.scope, remote_text=shown)
        assert log.height >= 2 and "LISTENER" not in str(log.rows())
        assert rows["last_error"].to_list() == ["HTTP 401 (details for admins)"]
        assert "LISTENER" not in str(rows.rows())
        configs = crm_config.list_configs(db, user.scope, remote_text=shown)
        assert "LISTENER" not in str(configs.rows())
    assert crm_views.sees_remote_text(ADMIN)
    log = crm_views.attempts_log(db, ADMIN.scope, remote_text=True)
    excerpts = [e for e in log["response_excerpt"].to_list() if e]
    assert excerpts and all("LISTENER-SAYS" in e and len(e) <= 200 for e in excerpts)
    assert "LISTENER" in crm_views.deliveries(db, ADMIN.scope, remote_text=True)["last_error"][0]


def test_client_leads_page_hides_crm_answers_from_a_client_user(demo_db):
    from tests.test_access import AUTH
    from tests.test_pages import APP, run_page

    marker = "REMOTE-BODY-MARKER"
    key = crm_delivery.delivery_key(6, "jo@example.com")
    demo_db.execute(
        "INSERT INTO crm_configs (workspace_id, crm_type, url, updated_by) VALUES (6, 'webhook',"
        " 'https://hooks.example.test/in', 't') ON CONFLICT DO NOTHING"
    )
    demo_db.execute(
        "INSERT INTO crm_deliveries (delivery_key, workspace_id, email, crm_type, status, attempts,"
        " last_error) VALUES (?, 6, 'jo@example.com', 'webhook', 'failed', 1, ?)",
        [key, f"HTTP 500 POST https://hooks.example.test/in: {marker}"],
    )
    demo_db.execute(
        "INSERT INTO crm_attempts (delivery_key, workspace_id, attempted_at, method, path,"
        " status_code, ok, duration_ms, response_excerpt) VALUES (?, 6, now(), 'POST', '/in', 500,"
        " false, 12, ?)",
        [key, f"{{'error': '{marker}'}}"],
    )

    def frames(at: AppTest) -> str:
        return " ".join(str(df.value.to_dict()) for df in at.dataframe)

    at = run_page("pages/client_leads.py")  # the local admin
    assert marker in frames(at)
    access.invite(demo_db, access.LOCAL_ADMIN, "agent@client.com", "client", workspace_id=6)
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "agent@client.com"}
    at.run()
    at.switch_page("pages/client_leads.py").run()
    assert not at.exception
    assert "jo@example.com" in frames(at) and marker not in frames(at)


# -- Slack: at save, at send ---------------------------------------------------------------------


def test_hostile_slack_urls_are_refused_when_saved_and_sent(empty_db, dns, listener, monkeypatch):
    for url in HOSTILE:
        with pytest.raises(alert_delivery.ChannelError, match="Webhook URL: refused"):
            alert_delivery.add_channel(empty_db, ADMIN, "ops", "slack", webhook_url=url)
        with pytest.raises(slack.SlackError, match="refused"):
            slack.post_message(url, "hello")
    assert empty_db.scalar("SELECT count(*) FROM alert_channels") == 0
    # stored while allowed (or before this guard), used without the switch: nothing is sent
    monkeypatch.setenv(ALLOW, "1")
    alert_delivery.add_channel(
        empty_db, ADMIN, "ops", "slack", webhook_url=f"{listener.url}/services/T1/B1/x"
    )
    notices.set_webhook(empty_db, ADMIN, f"{listener.url}/services/T1/B2/y")
    monkeypatch.delenv(ALLOW)
    empty_db.execute(
        "INSERT INTO alerts (alert_key, check_name, severity, subject_kind, title, explanation,"
        " first_seen, last_seen) VALUES ('k', 'sync_stale', 'danger', 'source', 'Stale', 'e',"
        " now() + INTERVAL 1 MINUTE, now() + INTERVAL 1 MINUTE)"
    )
    assert alert_delivery.deliver_pending(empty_db) == {"sent": 0, "failed": 1}
    assert "loopback" in empty_db.scalar("SELECT error FROM alert_notifications")
    assert notices.notify(empty_db, "pull done", "10 contacts") is False
    assert "loopback" in empty_db.scalar("SELECT error FROM notices")
    assert listener.seen == []


# -- the page makes a webhook's signing secret and shows it once ---------------------------------


def test_settings_generates_a_webhook_secret_and_shows_it_once(demo_db, memory_keyring, dns):
    from tests.test_pages import run_page

    dns["hooks.example.test"] = [PUBLIC_IP]
    at = run_page("pages/settings.py")
    at.selectbox(key="crm-client").set_value(6).run()
    form = [s for s in at.selectbox if s.label == "CRM"][0]
    form.set_value("webhook")
    [t for t in at.text_input if t.label.startswith("URL (webhook")][0].input(
        "http://169.254.169.254/latest/"
    )
    at.button(key="FormSubmitter:crm-form-Save CRM").click().run()
    errors = [e.value.replace("\\", "") for e in at.error]  # markdown-escaped
    assert any("URL: refused to send to 169.254.169.254" in e for e in errors), errors
    assert demo_db.scalar("SELECT count(*) FROM crm_configs WHERE workspace_id = 6") == 0
    [t for t in at.text_input if t.label.startswith("URL (webhook")][0].input(
        "https://hooks.example.test/in"
    )
    at.button(key="FormSubmitter:crm-form-Save CRM").click().run()
    assert not at.exception
    stored = secrets.get_secret(crm_config.webhook_secret_name(6))
    assert stored and stored.startswith("whsec_")
    assert any(stored in w.value for w in at.warning)  # shown once …
    at.run()
    assert not any(stored in w.value for w in at.warning)  # … and not again
    assert stored not in str(demo_db.rows("SELECT * FROM jobs"))


def test_pipeline_slack_notices_refuse_a_private_webhook_url_when_saved(empty_db, monkeypatch):
    from core.pipeline import notices

    monkeypatch.delenv("LEADOPS_ALLOW_PRIVATE_URLS", raising=False)
    admin = access.User("admin@agency.example", "admin")
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(ValueError, match="Slack webhook"):
            notices.set_webhook(empty_db, admin, url)
    assert not empty_db.scalar("SELECT count(*) FROM secret_refs WHERE name = 'slack.webhook'")
