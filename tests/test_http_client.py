"""connectors.http: retries, backoff, Retry-After, rate limiting, pagination, errors, redaction."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable
from datetime import date

import httpx
import pytest

from connectors.http import (
    REDACTED,
    ApiClient,
    ApiError,
    AuthError,
    NetworkError,
    NotFoundError,
    RateLimited,
    RateLimiter,
    RedactingFilter,
    RequestTimeout,
    ServerError,
    ValidationError,
    encode_params,
    extract_message,
    make_client,
    parse_page,
    parse_retry_after,
    redact,
    register_secret,
    safe_url,
)

TOKEN = "42|s3cretTokenValueForHttpTests0123456789"
BASE = "https://bison.test/api"

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(handler: Handler, sleeps: Sleeps | None = None, **kw: object) -> ApiClient:
    options: dict[str, object] = {"rate_per_sec": None, "max_retries": 3}
    options.update(kw)
    return make_client(
        BASE,
        TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,  # type: ignore[arg-type]
    )


def script(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with ``responses`` in order (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json={"data": body if body is not None else {"ok": True}})


# --------------------------------------------------------------------------- helpers


def test_encode_params_uses_laravel_brackets() -> None:
    params = {
        "filters": {"updated_at": {"criteria": ">=", "value": date(2025, 5, 1)}},
        "tag_ids": [1, 2],
        "read": True,
        "archived": False,
        "search": None,
        "page": 3,
    }
    assert encode_params(params) == [
        ("filters[updated_at][criteria]", ">="),
        ("filters[updated_at][value]", "2025-05-01"),
        ("tag_ids[]", "1"),
        ("tag_ids[]", "2"),
        ("read", "1"),
        ("archived", "0"),
        ("page", "3"),
    ]


def test_parse_retry_after_seconds_date_and_garbage() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(12) == 12.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_extract_message_order() -> None:
    assert extract_message({"message": "a", "error": "b", "data": {"message": "c"}}) == "a"
    assert extract_message({"error": "b", "data": {"message": "c"}}) == "b"
    assert extract_message({"data": {"success": False, "message": "c"}}) == "c"
    assert extract_message({"error": {"message": "nested"}}) == "nested"
    assert extract_message({"data": []}) is None


def test_parse_page_shapes() -> None:
    assert parse_page([1, 2]) == ([1, 2], None, False, 2)
    assert parse_page({"data": [1]}) == ([1], None, False, None)
    body = {"data": [1], "links": {"next": "x"}, "meta": {"last_page": "4", "total": 50}}
    assert parse_page(body) == ([1], 4, True, 50)
    with pytest.raises(ApiError, match="unexpected list response"):
        parse_page({"data": {"id": 1}})


# --------------------------------------------------------------------------- redaction


def test_redact_token_secret_half_and_bearer() -> None:
    register_secret(TOKEN)
    secret_half = TOKEN.split("|", 1)[1]
    text = f"auth={TOKEN} half={secret_half} header='Authorization: Bearer abc.def'"
    cleaned = redact(text)
    assert TOKEN not in cleaned and secret_half not in cleaned
    assert "abc.def" not in cleaned
    assert cleaned.count(REDACTED) == 3


def test_safe_url_drops_userinfo_and_secret_params() -> None:
    url = "https://user:pw@bison.test/api/leads?api_key=zzz&page=2&token=abc"
    cleaned = safe_url(url)
    assert "pw" not in cleaned and "zzz" not in cleaned and "abc" not in cleaned
    assert "page=2" in cleaned


def test_logging_filter_redacts_args_and_tracebacks() -> None:
    register_secret(TOKEN)
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "token %s", (TOKEN,), sys.exc_info()
        )
    assert RedactingFilter().filter(record) is True
    assert TOKEN not in record.getMessage()
    assert record.exc_text and TOKEN not in record.exc_text and REDACTED in record.exc_text


def test_client_repr_and_errors_never_show_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler, _ = script(httpx.Response(500, json={"message": f"bad token {TOKEN}"}))
    api = client(handler, max_retries=1)
    with pytest.raises(ServerError) as info:
        api.get("campaigns")
    # a careless log call is cleaned by the filter installed on the connectors loggers
    logging.getLogger("connectors.http").warning("debugging with %s", TOKEN)
    secret_half = TOKEN.split("|", 1)[1]
    for text in (str(info.value), repr(info.value), repr(api), caplog.text):
        assert TOKEN not in text and secret_half not in text
    assert "retrying GET" in caplog.text and REDACTED in caplog.text


# --------------------------------------------------------------------------- retries


def test_429_retry_after_header_is_honoured() -> None:
    sleeps = Sleeps()
    handler, seen = script(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "Too Many Attempts."}),
        ok(),
    )
    api = client(handler, sleeps)
    assert api.get("campaigns") == {"data": {"ok": True}}
    assert sleeps == [7.0]
    assert len(seen) == 2 and api.request_count == 2 and api.retry_count == 1


def test_429_retry_after_http_date_and_json_field() -> None:
    sleeps = Sleeps()
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    handler, _ = script(
        httpx.Response(429, headers={"Retry-After": later}),
        httpx.Response(429, json={"message": "slow down", "retry_after": 4}),
        ok(),
    )
    client(handler, sleeps).get("campaigns")
    assert 18 <= sleeps[0] <= 20.5
    assert sleeps[1] == 4.0


def test_5xx_retried_with_capped_jittered_backoff() -> None:
    sleeps = Sleeps()
    handler, seen = script(
        httpx.Response(500), httpx.Response(502, text="<html>bad gateway</html>"), ok()
    )
    api = client(handler, sleeps, backoff_base=0.5)
    assert api.get("campaigns")["data"] == {"ok": True}
    assert len(seen) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0

    sleeps = Sleeps()
    handler, _ = script(httpx.Response(503))
    with pytest.raises(ServerError):
        client(handler, sleeps, max_retries=8, backoff_base=1, backoff_max=3).get("x")
    assert len(sleeps) == 8 and max(sleeps) <= 3 and min(sleeps[3:]) >= 1.5


def test_exhausted_retries_raise_clear_errors() -> None:
    handler, seen = script(httpx.Response(503, json={"message": "Service Unavailable"}))
    api = client(handler, max_retries=2)
    with pytest.raises(ServerError) as info:
        api.get("campaigns", {"page": 2})
    assert len(seen) == 3
    assert info.value.status == 503
    assert str(info.value) == (
        "HTTP 503 GET https://bison.test/api/campaigns?page=2: Service Unavailable"
    )

    handler, seen = script(httpx.Response(429, headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited) as limited:
        client(handler, max_retries=1).get("leads")
    assert limited.value.retry_after == 2.0 and len(seen) == 2


def test_retry_after_beyond_limit_is_not_waited_for() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as info:
        client(handler, sleeps, max_retry_after=60).get("leads")
    assert sleeps == [] and len(seen) == 1 and info.value.retry_after == 3600


def test_post_is_not_repeated_after_it_may_have_been_processed() -> None:
    handler, seen = script(httpx.Response(500), ok())
    with pytest.raises(ServerError):
        client(handler).post("replies/1/reply", {"message": "hi"})
    assert len(seen) == 1

    handler, seen = script(httpx.Response(500), ok())
    client(handler).post("campaigns/1/stats", {}, idempotent=True)
    assert len(seen) == 2

    handler, seen = script(httpx.Response(429, headers={"Retry-After": "1"}), ok())
    client(handler).post("replies/1/reply", {"message": "hi"})
    assert len(seen) == 2


def test_connection_errors_and_timeouts_are_retried() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    api = client(handler, sleeps)
    assert api.get("users")["data"] == {"ok": True}
    assert len(seen) == 3 and len(sleeps) == 2

    handler, seen = script(httpx.ConnectError("refused"))
    with pytest.raises(NetworkError) as info:
        client(handler, max_retries=2).get("users")
    assert len(seen) == 3 and info.value.status is None
    assert "ConnectError" in str(info.value)

    handler, seen = script(httpx.ReadTimeout("slow"), ok())
    with pytest.raises(RequestTimeout):
        client(handler).post("replies/9/reply", {"message": "x"})
    assert len(seen) == 1


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (401, {"message": "Unauthenticated."}, AuthError, "Unauthenticated."),
        (
            403,
            {"data": {"success": False, "message": "The api key does not match the workspace"}},
            AuthError,
            "does not match the workspace",
        ),
        (
            404,
            {
                "data": {
                    "success": False,
                    "message": "Record not found.",
                    "record_not_found": {"campaign": "999"},
                }
            },
            NotFoundError,
            "Record not found. (campaign 999)",
        ),
        (
            422,
            {
                "message": "The email field is required. (and 1 more error)",
                "errors": {
                    "email": ["The email field is required."],
                    "leads.3.first_name": ["The leads.3.first_name field is required."],
                },
            },
            ValidationError,
            "email: The email field is required.; leads.3.first_name: The leads.3.first_name",
        ),
        (400, {"success": False, "message": "Woops"}, ApiError, "Woops"),
    ],
)
def test_error_mapping(status: int, body: object, kind: type[ApiError], text: str) -> None:
    handler, seen = script(httpx.Response(status, json=body))
    with pytest.raises(kind) as info:
        client(handler).get("campaigns/999")
    assert type(info.value) is kind
    assert info.value.status == status and text in info.value.message
    assert len(seen) == 1
    if kind is ValidationError:
        assert info.value.fields == ["email", "leads.3.first_name"]  # type: ignore[attr-defined]
    if kind is NotFoundError:
        assert info.value.record_not_found == {"campaign": "999"}  # type: ignore[attr-defined]


def test_non_json_success_names_the_problem() -> None:
    handler, _ = script(
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(ApiError, match="expected JSON but got text/html"):
        client(handler).get("users")


def test_redirect_is_reported_not_followed() -> None:
    handler, seen = script(httpx.Response(302, headers={"location": "https://bison.test/login"}))
    with pytest.raises(ApiError, match="unexpected redirect to https://bison.test/login"):
        client(handler).get("users")
    assert len(seen) == 1


# --------------------------------------------------------------------------- pagination


def paged(total: int, per_page: int = 15, meta: bool = True) -> tuple[Handler, list[int]]:
    pages: list[int] = []
    last = max(1, -(-total // per_page))

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        pages.append(page)
        start = (page - 1) * per_page
        items = [{"id": i} for i in range(start + 1, min(total, start + per_page) + 1)]
        body: dict[str, object] = {
            "data": items,
            "links": {"next": f"{BASE}/x?page={page + 1}" if page < last else None},
        }
        if meta:
            body["meta"] = {"current_page": page, "last_page": last, "per_page": per_page}
        return httpx.Response(200, json=body)

    return handler, pages


def test_iter_pages_follows_meta_last_page() -> None:
    handler, pages = paged(100)
    items = list(client(handler).iter_pages("leads", {"search": "a"}))
    assert [i["id"] for i in items] == list(range(1, 101))
    assert pages == [1, 2, 3, 4, 5, 6, 7]


def test_iter_pages_falls_back_to_links_next() -> None:
    handler, pages = paged(31, meta=False)
    assert len(list(client(handler).iter_pages("leads"))) == 31
    assert pages == [1, 2, 3]


def test_iter_pages_single_page_shapes() -> None:
    handler, seen = script(httpx.Response(200, json=[{"id": 1}, {"id": 2}]))
    assert len(list(client(handler).iter_pages("tags"))) == 2 and len(seen) == 1
    handler, seen = script(httpx.Response(200, json={"data": [{"id": 1}]}))
    assert len(list(client(handler).iter_pages("tags"))) == 1 and len(seen) == 1


def test_iter_pages_can_stop_early_and_resume() -> None:
    handler, pages = paged(100)
    api = client(handler)
    for item in api.iter_pages("replies"):
        if item["id"] == 20:
            break
    assert pages == [1, 2]
    pages.clear()
    batches = list(api.iter_page_batches("replies", start_page=6, max_pages=5))
    assert pages == [6, 7] and batches[-1].last_page == 7 and batches[0].items[0]["id"] == 76


def test_iter_pages_detects_a_server_ignoring_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": 1}], "links": {"next": "more"}})

    with pytest.raises(ApiError, match="pagination did not advance"):
        list(client(handler).iter_pages("leads"))


# --------------------------------------------------------------------------- rate limiting


def test_token_bucket_with_fake_clock() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = RateLimiter(10, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    # two free tokens, then one every 0.1 s
    assert now[0] == pytest.approx(0.4)
    assert len(waits) == 4


def test_rate_limiter_bounds_requests_across_threads() -> None:
    handler, _ = script(ok())
    api = client(handler, rate_per_sec=100, burst=1)
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [api.get("users") for _ in range(10)]) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert api.request_count == 30
    assert elapsed >= 0.28  # 29 intervals at 100/s
    assert elapsed < 3

    unlimited = client(handler)
    started = time.monotonic()
    for _ in range(30):
        unlimited.get("users")
    assert time.monotonic() - started < 0.25
    assert unlimited.rate_limiter is None


def test_request_count_is_thread_safe() -> None:
    handler, _ = script(ok())
    api = client(handler)
    threads = [
        threading.Thread(target=lambda: [api.get("users") for _ in range(50)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert api.request_count == 200
    api.reset_counts()
    assert api.request_count == 0


def test_headers_and_base_url_joining() -> None:
    handler, seen = script(httpx.Response(204))
    api = make_client(
        BASE + "/", TOKEN, transport=httpx.MockTransport(handler), headers={"X-Extra": "1"}
    )
    assert api.get("/campaigns/1") is None
    request = seen[0]
    assert str(request.url) == "https://bison.test/api/campaigns/1"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["x-extra"] == "1"


def test_session_cookies_are_not_sent_back_and_query_encoding_is_kept() -> None:
    """Token APIs: a Set-Cookie from the server is dropped (the jar keeps nothing), and params
    still reach the server in Laravel's bracket form with the path intact."""
    handler, seen = script(
        httpx.Response(
            200,
            json={"data": []},
            headers={"Set-Cookie": "laravel_session=abc; Path=/; HttpOnly"},
        )
    )
    api = client(handler)
    api.get("leads", {"filters": {"updated_at": {"criteria": ">=", "value": "2026-01-02"}}})
    api.get("leads", {"tag_ids": [3, 4], "page": 2})
    assert "cookie" not in seen[1].headers
    assert not list(api._http.cookies.jar)
    assert seen[0].url.path == "/api/leads"
    assert seen[0].url.params["filters[updated_at][criteria]"] == ">="
    assert seen[0].url.params["filters[updated_at][value]"] == "2026-01-02"
    assert seen[1].url.params.get_list("tag_ids[]") == ["3", "4"]
    assert seen[1].url.params["page"] == "2"


def test_json_bodies_orjson_first_standard_library_for_the_odd_ones() -> None:
    from connectors.http.client import loads_json

    assert loads_json(b'{"data": [{"id": 1, "name": "\\u00e9"}]}') == {
        "data": [{"id": 1, "name": "é"}]
    }
    assert loads_json(b'{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    nan = loads_json(b'{"rate": NaN}')["rate"]
    assert nan != nan
    assert loads_json(b'\xef\xbb\xbf{"ok": true}') == {"ok": True}
    with pytest.raises(ValueError):
        loads_json(b"<html>login</html>")
    handler, _ = script(httpx.Response(200, content=b'{"data": {"v": NaN, "id": 1}}'))
    assert client(handler).get("x")["data"]["id"] == 1
