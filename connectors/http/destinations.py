"""Where LeadOps may send requests on a user's behalf (server-side request forgery guard).

A URL someone types into LeadOps (a CRM's base URL, a webhook, a Slack incoming webhook) makes
the server send requests, with stored tokens, to wherever it points. Those destinations must be
on the public internet: loopback, private (RFC 1918, unique-local), link-local (the cloud
metadata service at 169.254.169.254), shared (100.64/10), multicast, reserved and unspecified
addresses are refused, and so is any scheme but http and https.

Checked twice:

* :func:`check_url` when the URL is saved (a name that does not resolve yet passes; it is
  checked again when used);
* :class:`DestinationGuard`, the transport of every client built with
  ``make_client(..., public_only=True)``: each request's host is resolved, *every* address it
  resolves to is checked, and the connection goes to the checked address (the URL's host is
  kept for the ``Host`` header and TLS), so a name cannot resolve to a public address for the
  check and a private one for the connection. The client follows no redirects.

``LEADOPS_ALLOW_PRIVATE_URLS=1`` turns the address checks off (for local testing and CRMs on
the agency's own network); the scheme check stays.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import httpx

from .errors import ApiError

ENV_ALLOW_PRIVATE_URLS = "LEADOPS_ALLOW_PRIVATE_URLS"
SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(ApiError):
    """The URL points somewhere LeadOps does not send requests to; nothing was sent."""


def private_urls_allowed() -> bool:
    return (os.environ.get(ENV_ALLOW_PRIVATE_URLS) or "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why an IP address is not a public destination, or None when it is one."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, reason in (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    ):
        if test:
            return reason
    return None


def _refuse(url: str, host: str, address: str, reason: str) -> BlockedDestination:
    via = "" if host == address else f" ({host} resolves to {address})"
    return BlockedDestination(
        f"refused to send to {address}{via}: {reason}. LeadOps sends only to public internet "
        f"addresses; set {ENV_ALLOW_PRIVATE_URLS}=1 to allow private ones (local testing, on-premise CRMs).",
        url=url,
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal is its own address); raises OSError."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in out:
            out.append(address)
    return out


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(str(url).strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BlockedDestination(f"not a valid URL ({exc})") from None
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise BlockedDestination(f"{parsed.scheme or 'a URL without a scheme'} is not http(s)")
    return parsed


def check_url(url: str | httpx.URL) -> None:
    """Refuse (raise :class:`BlockedDestination`) a URL LeadOps must not send requests to.

    For saving a URL: a host name that does not resolve now passes (DNS may be down, or the name
    not yet published); every request is checked again when it is sent.
    """
    parsed = _parse(url)
    if private_urls_allowed():
        return
    shown = str(parsed.copy_with(query=None, fragment=None))
    try:
        addresses = resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise _refuse(shown, parsed.host, address, reason)


def public_address(host: str, port: int, url: str = "") -> str:
    """The address to connect to for `host`: every address it resolves to must be public.

    Raises :class:`BlockedDestination`, or :class:`httpx.ConnectError` when the name does not
    resolve (a network failure: the request may be retried).
    """
    literal = _literal(host)
    try:
        addresses = [str(literal)] if literal is not None else resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
    if not addresses:
        raise httpx.ConnectError(f"cannot resolve {host}")
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise _refuse(url, host, address, reason)
    # IPv4 first: the connection is pinned to one address, with no fallback between families
    return sorted(addresses, key=lambda a: ":" in a)[0]


class DestinationGuard(httpx.BaseTransport):
    """A transport that sends a request only to the public address its host resolved to."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in SCHEMES or not url.host:
            raise BlockedDestination(f"{url.scheme} is not http(s)", method=request.method)
        if private_urls_allowed():
            return self._inner.handle_request(request)
        shown = str(url.copy_with(query=None, fragment=None))
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            address = public_address(url.host, port, shown)
        except BlockedDestination as exc:
            exc.method = request.method
            raise
        if address == url.host:
            return self._inner.handle_request(request)
        extensions = dict(request.extensions)
        extensions.setdefault("sni_hostname", url.host)
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address),
            headers=request.headers,  # the Host header keeps the name
            stream=request.stream,
            extensions=extensions,
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        self._inner.close()
