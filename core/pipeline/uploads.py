"""Uploads to Email Bison, revert, and the weekly evergreen step.

Upload: for each of a client's batches of a month, leads are created-or-updated in chunks of at
most 500, attached to the client's upload campaign and tagged with the batch name. Each chunk is
recorded as soon as Email Bison accepted it (contacts `uploaded`, with their lead id), so a
failure half-way leaves the batch "partially uploaded" and a retry sends only what is missing.
Just before each chunk the suppression list is checked again: a contact suppressed after it was
batched (an unsubscribe, a bounce, a deletion request) is held back — rejected as `suppressed`,
taken out of its batch — and the upload's result says how many.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from connectors.bison import BisonClient
from connectors.http import ApiError, redact
from core.accounts import access
from core.pipeline import notices
from core.platform import audit, connections, settings
from core.platform.store import Database

CHUNK = 500
Tick = Callable[[int, int | None, str | None], None]
ClientFactory = Callable[[int], BisonClient]


class UploadError(RuntimeError):
    pass


def bison_client_for(db: Database, workspace_id: int) -> BisonClient:
    try:
        return connections.bison_client(db, workspace_id)
    except connections.NotConfigured as exc:
        raise UploadError(str(exc)) from None


def _clients(db: Database, factory: ClientFactory | None) -> ClientFactory:
    """The caller's client factory, else one for the configured Email Bison instance."""
    return factory or (lambda workspace_id: bison_client_for(db, workspace_id))


def campaign_settings(db: Database, workspace_id: int) -> dict[str, Any]:
    row = db.query("SELECT * FROM pipeline_settings WHERE workspace_id = ?", [workspace_id])
    return (
        row.row(0, named=True)
        if row.height
        else {"upload_campaign_id": None, "evergreen_campaign_id": None}
    )


def set_campaigns(
    db: Database,
    user: access.User,
    workspace_id: int,
    *,
    upload_campaign_id: int | None,
    evergreen_campaign_id: int | None,
) -> None:
    access.require(user, "pipeline.run")
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO pipeline_settings (workspace_id, upload_campaign_id, evergreen_campaign_id,"
            " updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id) DO UPDATE SET"
            " upload_campaign_id = excluded.upload_campaign_id,"
            " evergreen_campaign_id = excluded.evergreen_campaign_id, updated_at = now(),"
            " updated_by = excluded.updated_by",
            [workspace_id, upload_campaign_id, evergreen_campaign_id, user.email],
        )
        audit.record(
            cur,
            actor=user.email,
            action="pipeline.campaigns",
            entity="workspace",
            entity_id=workspace_id,
            after={"upload": upload_campaign_id, "evergreen": evergreen_campaign_id},
        )


def resolve_campaign(db: Database, workspace_id: int, ref: str | int | None) -> int | None:
    """The client's campaign numbered or named `ref` ('none' or '' for no campaign).

    A name must match one synced campaign (case and surrounding spaces ignored); a number must be
    one of the synced campaigns once any are synced (before the first sync, any number is taken).
    """
    text = str(ref if ref is not None else "").strip()
    if text.lower() in ("", "none", "-"):
        return None
    known = known_campaigns(db, workspace_id)
    ids = known["id"].to_list()
    if text.lstrip("#").isdigit():
        cid = int(text.lstrip("#"))
        if ids and cid not in ids:
            raise UploadError(
                f"Campaign {cid} is not among this client's {len(ids)} synced campaigns "
                "(sync Email Bison if it is new)."
            )
        return cid
    hits = [i for i, n in known.iter_rows() if n.strip().lower() == text.lower()]
    if len(hits) == 1:
        return int(hits[0])
    if hits:
        raise UploadError(
            f"{len(hits)} campaigns are named {text!r} (ids {', '.join(map(str, hits))}): "
            "give the id instead."
        )
    raise UploadError(
        f"No campaign named {text!r} for this client"
        + (" (none synced yet: sync Email Bison first, or give the id)." if not ids else ".")
    )


def choose_campaigns(
    db: Database,
    user: access.User,
    workspace_id: int,
    *,
    upload: str | int | None = None,
    evergreen: str | int | None = None,
) -> dict[str, int | None]:
    """Set the upload and/or evergreen campaign by id or name, keeping the one not given."""
    current = campaign_settings(db, workspace_id)
    chosen = {
        "upload_campaign_id": current["upload_campaign_id"]
        if upload is None
        else resolve_campaign(db, workspace_id, upload),
        "evergreen_campaign_id": current["evergreen_campaign_id"]
        if evergreen is None
        else resolve_campaign(db, workspace_id, evergreen),
    }
    if upload is not None or evergreen is not None:
        set_campaigns(db, user, workspace_id, **chosen)
    return chosen


def _tag_id(client: BisonClient, name: str) -> int:
    for tag in client.list_tags():
        if tag.name == name:
            return int(tag.id)
    return int(client.create_tag(name).id)


def _lead(row: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "email": row["email"],
        "first_name": row["first_name"] or "",
        "last_name": row["last_name"] or "",
    }
    custom = {k: str(row[k]) for k in ("city", "state", "zip", "purchase_date") if row.get(k)}
    if custom:
        fields["custom_variables"] = [{"name": k, "value": v} for k, v in custom.items()]
    return fields


def upload_stage(
    db: Database,
    workspace_id: int,
    month: dt.date,
    *,
    tick: Tick | None = None,
    client_factory: ClientFactory | None = None,
) -> dict[str, Any]:
    tick = tick or (lambda *_: None)
    campaign_id = campaign_settings(db, workspace_id).get("upload_campaign_id")
    batches = db.rows(
        "SELECT id, name, bison_tag_id FROM batches WHERE workspace_id = ? AND renewal_month = ?"
        " AND contact_count > uploaded_count ORDER BY window_start",
        [workspace_id, month],
    )
    total = int(
        db.scalar(
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND status = 'batched'",
            [workspace_id, month],
        )
        or 0
    )
    if not batches or not total:
        return {"input": 0, "output": 0, "batches": {}}
    if not campaign_id:
        raise UploadError(
            "No upload campaign chosen for this client; pick one on the Pipeline page first."
        )
    client = _clients(db, client_factory)(workspace_id)
    done, per_batch, skipped, held = 0, {}, 0, 0
    try:
        for batch_id, name, tag_id in batches:
            sent = 0
            try:
                if not tag_id:
                    tag_id = _tag_id(client, name)
                    db.execute(
                        "UPDATE batches SET bison_tag_id = ? WHERE id = ?", [tag_id, batch_id]
                    )
                db.execute(
                    "UPDATE batches SET status = 'uploading', bison_campaign_id = ?, error = NULL"
                    " WHERE id = ?",
                    [campaign_id, batch_id],
                )
                while True:
                    held += hold_back_suppressed(db, batch_id)
                    rows = db.query(
                        "SELECT id, email, first_name, last_name, city, state, zip, purchase_date"
                        f" FROM contacts WHERE batch_id = ? AND status = 'batched' ORDER BY id LIMIT {CHUNK}",
                        [batch_id],
                    ).to_dicts()
                    if not rows:
                        break
                    result = client.create_or_update_leads([_lead(r) for r in rows])
                    ids_by_email = {lead.email.lower(): int(lead.id) for lead in result.leads}
                    lead_ids = list(ids_by_email.values())
                    if lead_ids:
                        client.attach_leads_to_campaign(int(campaign_id), lead_ids)
                        client.attach_tags_to_leads([int(tag_id)], lead_ids)
                    _record_chunk(db, batch_id, rows, ids_by_email)
                    skipped += sum(1 for r in rows if r["email"].lower() not in ids_by_email)
                    sent += len(rows)
                    done += len(rows)
                    tick(done, total, name)
                _finish_batch(db, batch_id, None)
            except ApiError as exc:
                _finish_batch(db, batch_id, redact(str(exc))[:300])
                raise UploadError(
                    f"{name}: Email Bison refused the upload ({redact(str(exc))[:200]})."
                ) from None
            except BaseException as exc:
                _finish_batch(db, batch_id, f"stopped: {type(exc).__name__}")
                raise
            per_batch[name] = sent
    finally:
        client.close()
    uploaded = done - skipped
    notices.notify(
        db,
        "batches uploaded",
        f"{_ws_name(db, workspace_id)}: {uploaded:,} leads in {len(per_batch)} batch(es) for "
        f"{month:%B %Y}"
        + (f", {skipped:,} skipped by Email Bison" if skipped else "")
        + (f", {held:,} held back as suppressed" if held else ""),
        workspace_id,
    )
    return {
        "input": total,
        "output": uploaded,
        "skipped": skipped,
        "held_back": held,
        "batches": per_batch,
    }


def hold_back_suppressed(db: Database, batch_id: int) -> int:
    """Take the batch's contacts that are on the suppression list now out of it (rejected as
    `suppressed`, with an event in their history); returns how many."""
    with db.transaction() as cur:
        held = cur.execute(
            """UPDATE contacts SET status = 'rejected', reject_reason = 'suppressed',
                   batch_id = NULL, updated_at = now()
               WHERE batch_id = ? AND status = 'batched'
                 AND lower(trim(email)) IN (SELECT email_key FROM suppression_list)
               RETURNING id, workspace_id""",
            [batch_id],
        ).fetchall()
        if not held:
            return 0
        cur.execute(
            "INSERT INTO contact_events (contact_id, workspace_id, kind, rule, reason)"
            " SELECT unnest(?), unnest(?), 'held_back', 'suppressed',"
            " 'held back from the upload: on the suppression list since it was batched'",
            [[r[0] for r in held], [r[1] for r in held]],
        )
        cur.execute(
            "UPDATE batches SET contact_count = (SELECT count(*) FROM contacts WHERE batch_id = ?)"
            " WHERE id = ?",
            [batch_id, batch_id],
        )
    return len(held)


def _ws_name(db: Database, workspace_id: int) -> str:
    return db.scalar("SELECT name FROM workspaces WHERE id = ?", [workspace_id]) or str(
        workspace_id
    )


def _record_chunk(db: Database, batch_id: int, rows: list[dict], ids_by_email: dict) -> None:
    frame = pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "lead_id": pa.array([ids_by_email.get(r["email"].lower()) for r in rows], pa.int64()),
        }
    )
    with db.transaction() as cur:
        cur.register("_up", frame)
        cur.execute(
            """UPDATE contacts SET
                   status = CASE WHEN u.lead_id IS NULL THEN 'rejected' ELSE 'uploaded' END,
                   reject_reason = CASE WHEN u.lead_id IS NULL THEN 'skipped by Email Bison' END,
                   bison_lead_id = u.lead_id,
                   uploaded_at = CASE WHEN u.lead_id IS NOT NULL THEN now() END,
                   batch_id = CASE WHEN u.lead_id IS NULL THEN NULL ELSE contacts.batch_id END,
                   updated_at = now()
               FROM _up u WHERE contacts.id = u.id"""
        )
        cur.unregister("_up")
        cur.execute(
            "UPDATE batches SET uploaded_count = (SELECT count(*) FROM contacts WHERE batch_id = ?"
            " AND status = 'uploaded'), contact_count = (SELECT count(*) FROM contacts"
            " WHERE batch_id = ?) WHERE id = ?",
            [batch_id, batch_id, batch_id],
        )


def _finish_batch(db: Database, batch_id: int, error: str | None) -> None:
    db.execute(
        """UPDATE batches SET
               status = CASE WHEN uploaded_count >= contact_count AND ? IS NULL THEN 'uploaded'
                             WHEN uploaded_count > 0 THEN 'partially uploaded' ELSE 'failed' END,
               error = ?,
               uploaded_at = CASE WHEN uploaded_count > 0 THEN now() ELSE uploaded_at END
           WHERE id = ?""",
        [error, error, batch_id],
    )


def revert_upload(
    db: Database, user: access.User, batch_id: int, *, client_factory: ClientFactory | None = None
) -> int:
    """Delete a batch's uploaded leads in Email Bison and put its contacts back to `batched`."""
    access.require(user, "pipeline.run")
    wid = db.scalar("SELECT workspace_id FROM batches WHERE id = ?", [batch_id])
    if wid is None:
        raise UploadError("No such batch.")
    ids = [
        r[0]
        for r in db.rows(
            "SELECT bison_lead_id FROM contacts WHERE batch_id = ? AND bison_lead_id IS NOT NULL",
            [batch_id],
        )
    ]
    if ids:
        client = _clients(db, client_factory)(wid)
        try:
            client.delete_leads(ids)
        except ApiError as exc:
            raise UploadError(f"Email Bison refused the delete: {redact(str(exc))[:200]}") from None
        finally:
            client.close()
    with db.transaction() as cur:
        cur.execute(
            "UPDATE contacts SET status = 'batched', bison_lead_id = NULL, uploaded_at = NULL"
            " WHERE batch_id = ? AND status = 'uploaded'",
            [batch_id],
        )
        cur.execute(
            "UPDATE batches SET status = 'pending', uploaded_count = 0, uploaded_at = NULL,"
            " error = NULL WHERE id = ?",
            [batch_id],
        )
        cur.execute("DELETE FROM evergreen_updates WHERE batch_id = ?", [batch_id])
        audit.record(
            cur,
            actor=user.email,
            action="batch.revert_upload",
            entity="batch",
            entity_id=batch_id,
            after={"leads_deleted": len(ids)},
        )
    return len(ids)


# -- the weekly evergreen step ---------------------------------------------------------------


def evergreen_name(start: dt.date, end: dt.date) -> str:
    return f"Evergreen, Last Upload: {start:%B} {start.day}–{end.day}"


def evergreen(
    db: Database,
    *,
    workspace_id: int | None = None,
    today: dt.date | None = None,
    client_factory: ClientFactory | None = None,
) -> dict[str, Any]:
    """Attach the batch whose renewal window starts `evergreen_lead_days` ahead to each client's
    evergreen campaign and rename it; a batch already attached is skipped (idempotent)."""
    today = today or dt.date.today()
    target = today + dt.timedelta(days=int(settings.get(db, "evergreen_lead_days")))
    rows = db.rows(
        """SELECT b.workspace_id, b.id, b.name, b.window_start, b.window_end,
                  p.evergreen_campaign_id
           FROM batches b JOIN pipeline_settings p ON p.workspace_id = b.workspace_id
           WHERE p.evergreen_campaign_id IS NOT NULL AND ? BETWEEN b.window_start AND b.window_end
             AND (? IS NULL OR b.workspace_id = ?)
           ORDER BY b.workspace_id""",
        [target, workspace_id, workspace_id],
    )
    out: dict[str, Any] = {"updated": [], "skipped": [], "failed": []}
    for wid, batch_id, name, start, end, campaign_id in rows:
        label = f"{_ws_name(db, wid)}: {name}"
        if db.scalar(
            "SELECT count(*) FROM evergreen_updates WHERE workspace_id = ? AND batch_id = ?",
            [wid, batch_id],
        ):
            out["skipped"].append(f"{label} (already attached)")
            continue
        lead_ids = [
            r[0]
            for r in db.rows(
                "SELECT bison_lead_id FROM contacts WHERE batch_id = ? AND bison_lead_id IS NOT NULL",
                [batch_id],
            )
        ]
        if not lead_ids:
            out["skipped"].append(f"{label} (not uploaded yet)")
            continue
        new_name = evergreen_name(start, end)
        try:
            client = _clients(db, client_factory)(wid)
            try:
                client.attach_leads_to_campaign(int(campaign_id), lead_ids)
                client.update_campaign(int(campaign_id), name=new_name)
            finally:
                client.close()
        except (ApiError, UploadError) as exc:
            out["failed"].append(f"{label}: {redact(str(exc))[:200]}")
            continue
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO evergreen_updates (workspace_id, batch_id, campaign_id, campaign_name,"
                " leads) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [wid, batch_id, campaign_id, new_name, len(lead_ids)],
            )
            audit.record(
                cur,
                actor="schedule",
                action="pipeline.evergreen",
                entity="workspace",
                entity_id=wid,
                after={"batch": name, "campaign": new_name},
            )
        notices.notify(
            db,
            "evergreen updated",
            f"{label}: {len(lead_ids):,} leads; campaign renamed “{new_name}”",
            wid,
        )
        out["updated"].append(f"{label} → {new_name}")
    return out


def known_campaigns(db: Database, workspace_id: int) -> Any:
    """The client's Email Bison campaigns from the last sync (id, name), for choosing targets."""
    return db.query(
        "SELECT id, name FROM bison_campaigns WHERE workspace_id = ? ORDER BY name", [workspace_id]
    )
