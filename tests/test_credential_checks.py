"""Settings → Credentials' Test calls each service for real (fakes on 127.0.0.1, localstripe, a
real SMTP server and PostgreSQL) and keeps the outcome; a credential of a kind is found by its
kind whatever name it was saved under (newest first); `leadops credentials list|set|test`."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from core.accounts import access, credentials
from core.demo.sandbox import serve
from core.guardrails import mailer
from core.pipeline import verification
from core.platform import settings
from core.replies import drafts
from core.revenue import stripe_sync
from tests.fakes.debounce_server import DebounceFake
from tests.fakes.llm_server import KEY as LLM_KEY
from tests.fakes.llm_server import LlmFake
from tests.fakes.receivers import SlackReceiver, SmtpReceiver
from tests.test_pipeline import MONTH, month_rows, write_contacts, ws  # noqa: F401

ADMIN = access.LOCAL_ADMIN


def stored_test(db, name):
    return db.query(
        "SELECT last_test_ok, last_test_message, last_tested_at FROM secret_refs WHERE name = ?",
        [name],
    ).row(0, named=True)


def check(db, name, kind, value):
    credentials.save(db, ADMIN, name, kind, value)
    ok, message = credentials.test(db, ADMIN, name)
    row = stored_test(db, name)
    assert (row["last_test_ok"], row["last_test_message"]) == (ok, message)
    assert row["last_tested_at"] > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert value not in message
    return ok, message


@pytest.fixture
def debounce(monkeypatch):
    fake = DebounceFake(api_key="debounce-key-for-checks-0001", credits=4321)
    with serve(fake) as url:
        monkeypatch.setenv("LEADOPS_DEBOUNCE_URL", url)
        yield fake


def test_stripe_key_is_tested_against_localstripe(empty_db, stripe_url, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY")
    ok, message = check(empty_db, "stripe.live", "stripe_key", "sk_test_leadops_check_1234")
    assert ok is True and "test mode" in message
    ok, message = check(empty_db, "stripe.bad", "stripe_key", "not-a-stripe-key-9876")
    assert ok is False and "Stripe refused it" in message and "401" in message


def test_debounce_key_is_tested_by_its_balance(empty_db, debounce):
    ok, message = check(empty_db, "debounce.main", "debounce_key", debounce.api_key)
    assert ok is True and "4,321 credits left" in message
    assert debounce.calls == 0  # the balance costs no verification credit
    ok, message = check(empty_db, "debounce.old", "debounce_key", "wrong-debounce-key-0002")
    assert ok is False and "Debounce refused it" in message


def test_language_model_key_is_tested_by_its_model_list(empty_db, monkeypatch):
    ok, message = check(empty_db, "llm.api_key", "llm_key", LLM_KEY)
    assert ok is None and "LEADOPS_LLM_URL" in message  # nowhere to ask: not a failure
    fake = LlmFake()
    with serve(fake) as url:
        monkeypatch.setenv("LEADOPS_LLM_URL", f"{url}/v1")
        ok, message = check(empty_db, "llm.api_key", "llm_key", LLM_KEY)
        assert ok is True and "2 model(s)" in message
        monkeypatch.setenv("LEADOPS_LLM_MODEL", "some-other-model")
        ok, message = check(empty_db, "llm.api_key", "llm_key", LLM_KEY)
        assert ok is True and "some-other-model is not among them" in message
        ok, message = check(empty_db, "llm.wrong", "llm_key", "sk-wrong-llm-key-0000")
        assert ok is False and "401" in message
    assert fake.prompts == []  # nothing was generated (or paid for)


def test_slack_webhook_is_tested_with_a_message(empty_db, monkeypatch):
    monkeypatch.setenv("LEADOPS_ALLOW_PRIVATE_URLS", "1")  # the receiver is on 127.0.0.1
    receiver = SlackReceiver()
    with serve(receiver) as url:
        hook = f"{url}/services/T0001/B0001/SlackHookSecret42"
        ok, message = check(empty_db, "slack.ops", "slack_webhook", hook)
        assert ok is True and len(receiver.messages) == 1
        assert "LeadOps credential test" in receiver.messages[0]["text"]
        receiver.fail_next = 1
        ok, message = check(empty_db, "slack.ops", "slack_webhook", hook)
        assert ok is False and "Slack refused it" in message and "SlackHookSecret42" not in message


def test_smtp_password_is_tested_by_logging_in(empty_db):
    receiver = SmtpReceiver(login=("alerts", "smtp-password-right-1"))
    port = receiver.start()
    try:
        ok, message = check(empty_db, "smtp.password", "smtp_password", "smtp-password-right-1")
        assert ok is None and "smtp_host" in message
        for name, value in (
            ("smtp_host", "127.0.0.1"),
            ("smtp_port", port),
            ("smtp_security", "none"),
            ("smtp_username", "alerts"),
        ):
            settings.set_value(empty_db, name, value, actor="t")
        ok, message = check(empty_db, "smtp.password", "smtp_password", "smtp-password-right-1")
        assert ok is True and "accepted the login of alerts" in message
        ok, message = check(empty_db, "smtp.password", "smtp_password", "smtp-password-wrong-2")
        assert ok is False and "535" in message
        assert receiver.messages == []  # nothing was sent
    finally:
        receiver.stop()


def test_kinds_without_a_service_are_not_failures(empty_db):
    credentials.save(empty_db, ADMIN, "source.tx-1", "lead_source", "src-pass-01", states=["TX"])
    ok, message = credentials.test(empty_db, ADMIN, "source.tx-1")
    assert ok is None and "no service to call" in message
    assert stored_test(empty_db, "source.tx-1")["last_test_ok"] is None


# -- found by kind, whatever the name ----------------------------------------------------------


def test_a_debounce_key_saved_under_any_name_is_used_for_verification(ws, tmp_path, debounce):  # noqa: F811
    from core.pipeline import filters
    from core.pipeline.contact_import import import_file

    assert not verification.debounce_configured(ws)
    credentials.save(ws, ADMIN, "debounce.main", "debounce_key", debounce.api_key)
    assert verification.debounce_configured(ws)
    import_file(ws, 1, write_contacts(tmp_path / "a.csv", month_rows(4)), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    out = verification.verify_stage(ws, 1, MONTH)
    assert out["mode"] == "debounce" and out["credits"] == 4 and debounce.calls == 4


def test_the_newest_credential_of_a_kind_wins(empty_db, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    credentials.save(empty_db, ADMIN, "stripe.old", "stripe_key", "sk_test_OldStripeKey_1111")
    assert stripe_sync.api_key(empty_db) == "sk_test_OldStripeKey_1111"
    credentials.save(empty_db, ADMIN, "billing", "stripe_key", "sk_test_NewStripeKey_2222")
    assert stripe_sync.configured(empty_db)
    assert stripe_sync.api_key(empty_db) == "sk_test_NewStripeKey_2222"
    credentials.delete(empty_db, ADMIN, "billing")
    assert stripe_sync.api_key(empty_db) == "sk_test_OldStripeKey_1111"


def test_language_model_and_smtp_passwords_are_found_by_kind(empty_db, monkeypatch):
    from core.platform import secrets

    credentials.save(empty_db, ADMIN, "openai", "llm_key", LLM_KEY)
    assert secrets.get_by_kind(empty_db, drafts.LLM_KEY_KIND, drafts.LLM_KEY_NAME) == LLM_KEY
    receiver = SmtpReceiver(login=("alerts", "office-smtp-pass-3"))
    port = receiver.start()
    try:
        for name, value in (
            ("smtp_host", "127.0.0.1"),
            ("smtp_port", port),
            ("smtp_security", "none"),
            ("smtp_from", "alerts@agency.com"),
            ("smtp_username", "alerts"),
        ):
            settings.set_value(empty_db, name, value, actor="t")
        credentials.save(empty_db, ADMIN, "smtp.office", "smtp_password", "office-smtp-pass-3")
        mailer.send(empty_db, ["ops@agency.com"], "Subject", "Body")
        assert len(receiver.messages) == 1
    finally:
        receiver.stop()


# -- the command line ------------------------------------------------------------------------


def test_cli_sets_tests_and_lists_credentials(empty_db, debounce, monkeypatch):
    from core.cli.main import app

    empty_db.close()  # the command opens the file itself
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["credentials", "set", "debounce.main", "--kind", "debounce_key"],
        input=debounce.api_key + "\n",
    )
    assert out.exit_code == 0, out.output
    assert "Saved debounce.main (debounce_key): …0001" in out.output
    assert debounce.api_key not in out.output
    out = runner.invoke(app, ["credentials", "test", "debounce.main"])
    assert out.exit_code == 0 and "Test ok: Debounce accepted it (4,321 credits left)" in out.output
    monkeypatch.setenv("LEADOPS_CREDENTIAL_VALUE", "wrong-debounce-key-0003")
    out = runner.invoke(
        app, ["credentials", "set", "debounce.spare", "--kind", "debounce_key", "--test"]
    )
    assert out.exit_code == 1 and "Test FAILED: Debounce refused it" in out.output
    monkeypatch.delenv("LEADOPS_CREDENTIAL_VALUE")
    out = runner.invoke(app, ["credentials", "list"])
    assert out.exit_code == 0
    lines = {line.split()[0]: line for line in out.output.splitlines()}
    assert "…0001" in lines["debounce.main"] and " ok " in lines["debounce.main"]
    assert "…0003" in lines["debounce.spare"] and "failed" in lines["debounce.spare"]
    out = runner.invoke(app, ["credentials", "set", "x.y", "--kind", "nope"], input="v\n")
    assert out.exit_code == 2 and "--kind must be one of" in out.output
    out = runner.invoke(
        app,
        ["credentials", "set", "Bad Name", "--kind", "stripe_key"],
        input="sk_test_x_123456789\n",
    )
    assert out.exit_code == 2 and "Name:" in out.output
    out = runner.invoke(app, ["credentials", "test", "no.such"])
    assert out.exit_code == 1 and "No credential named" in out.output
    from core.platform import store

    db = store.get_db()
    params = str(db.rows("SELECT kind, params, result FROM jobs"))
    assert "credentials.set" in params and debounce.api_key not in params
    assert db.scalar("SELECT count(*) FROM secret_refs WHERE name LIKE 'pending.%'") == 0


def test_the_settings_page_tests_a_credential_and_names_the_store(empty_db, debounce):
    from streamlit.testing.v1 import AppTest

    from tests.test_pages import APP

    credentials.save(empty_db, ADMIN, "debounce.main", "debounce_key", debounce.api_key)
    credentials.save(empty_db, ADMIN, "source.tx-1", "lead_source", "src-pass-01", states=["TX"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    assert any("Secret store: encrypted file" in c.value for c in at.caption)
    at.selectbox(key="vault-pick").set_value("debounce.main").run()
    at.button(key="vault-test").click().run()
    assert not at.exception
    assert any("Debounce accepted it" in s.value for s in at.success)
    at.selectbox(key="vault-pick").set_value("source.tx-1").run()
    at.button(key="vault-test").click().run()
    assert any("no service to call" in i.value for i in at.info)
    assert stored_test(empty_db, "debounce.main")["last_test_ok"] is True
    assert debounce.api_key not in str(list(at.main))
