"""What happens to new replies, after every Email Bison sync and on `leadops crm deliver`: take in
waiting webhook events, classify new replies, add unsubscribes, hard bounces and removal requests
to the suppression list, create client leads, read CRM deal stages back, queue new leads and
deliver what is due.

One function for both paths, so a reply is processed by the same rules whichever path saw it first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from connectors.http import redact
from core.bison import receiver as webhooks
from core.platform import suppression_store
from core.platform.store import Database
from core.replies import client_leads, crm_delivery
from core.replies import inbox as replies

# One pass at a time per process: the after-sync step and `crm deliver` read the same unlabelled
# replies and leads; run side by side they would both try to label and queue the same rows.
_one_at_a_time = threading.Lock()


def process_new_replies(
    db: Database,
    workspace_ids: list[int] | None = None,
    *,
    ingest: bool = True,
    deal_stages: bool = True,
    progress: Callable[[str], None] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Run every step; never raises. A CRM that is down must not fail the Email Bison sync: a
    step's error is returned as `<step>_error` and the next run tries again."""
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = []
    if ingest:  # interested replies Email Bison reported by webhook since the last sync
        steps.append(("webhooks", lambda: webhooks.ingest(db)))
    steps += [
        ("classified", lambda: replies.classify_pending(db, workspace_ids)),
        ("suppressed", lambda: suppression_store.sweep(db, workspace_ids)),
        ("new_leads", lambda: len(client_leads.refresh(db, workspace_ids))),
    ]
    if deal_stages:
        steps.append(
            ("stages_changed", lambda: crm_delivery.sync_deal_stages(db, workspace_ids, **kw))
        )
    steps += [
        ("queued", lambda: crm_delivery.enqueue(db, workspace_ids)),
        ("delivery", lambda: crm_delivery.deliver_pending(db, workspace_ids, **kw)),
    ]
    with _one_at_a_time:
        for name, fn in steps:
            if progress:
                progress(name)
            try:
                out[name] = fn()
            except Exception as exc:  # reported in the result; the next run tries again
                out[f"{name}_error"] = redact(f"{type(exc).__name__}: {exc}")
    return out
