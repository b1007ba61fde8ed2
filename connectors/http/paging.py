"""Laravel-style request parameters and list pages: how the shared HTTP client encodes a query
and reads one page of a list endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .errors import ApiError


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Flatten params the way Laravel parses them.

    Lists become ``key[]=a&key[]=b``, dicts ``key[sub]=v``, booleans ``1``/``0``
    (Laravel's ``boolean`` rule rejects ``"true"``), dates ISO, ``None`` is dropped.
    """
    out: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                add(f"{key}[{sub}]", inner)
        elif isinstance(value, list | tuple | set | frozenset):
            items = sorted(value) if isinstance(value, set | frozenset) else value
            for index, inner in enumerate(items):
                add(f"{key}[{index}]" if isinstance(inner, Mapping) else f"{key}[]", inner)
        elif isinstance(value, bool):
            out.append((key, "1" if value else "0"))
        elif isinstance(value, datetime):
            out.append((key, value.isoformat()))
        elif isinstance(value, date):
            out.append((key, value.isoformat()))
        else:
            out.append((key, str(value)))

    for key, value in (params or {}).items():
        add(str(key), value)
    return out


def _to_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list endpoint."""

    items: list[Any]
    number: int
    last_page: int | None
    total: int | None


def parse_page(body: Any) -> tuple[list[Any], int | None, bool, int | None]:
    """``(items, last_page, has_next_link, total)`` from a page body.

    Accepts the Laravel envelope ``{data, links, meta}``, ``{data: [...]}`` without
    meta (one page) and a bare list (one page).
    """
    if isinstance(body, list):
        return body, None, False, len(body)
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        items = body["data"]
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
        links = body.get("links") if isinstance(body.get("links"), Mapping) else {}
        last_page = _to_int(meta.get("last_page"))
        total = _to_int(meta.get("total"))
        return items, last_page, bool(links.get("next")), total
    if body is None:
        return [], None, False, 0
    raise ApiError(f"unexpected list response shape ({type(body).__name__})")
