"""Contacts workbench search on the full demo (about 1M contacts): one page of matches plus the
total, as the page and `leadops contacts find` run it, against the bare SQL of the same filter
(the same count and page statements on contacts, fetched as raw tuples).

Run: .venv/bin/python benchmarks/contacts.py   (builds the full demo dataset on first run)
Target per search: under 0.5 s, and <= 2x the bare SQL.
"""

from __future__ import annotations

import statistics
import sys
import time

from common import Report, full_db

from core.contacts import search
from core.platform.scope import Scope


def cases(db) -> dict[str, search.ContactFilter]:
    wid, month, batch, status = db.query(
        "SELECT workspace_id, renewal_month, batch_id, status FROM contacts"
        " WHERE batch_id IS NOT NULL ORDER BY id LIMIT 1"
    ).row(0)
    email, last, phone, zip_code = db.query(
        "SELECT email, last_name, cell_phone, zip FROM contacts WHERE cell_phone IS NOT NULL"
        " ORDER BY id DESC LIMIT 1"
    ).row(0)
    digits = "".join(ch for ch in phone if ch.isdigit())[-7:]
    return {
        "everything": search.ContactFilter(),
        "email part": search.ContactFilter(email=email.split("@")[0]),
        "name": search.ContactFilter(name=last),
        "phone digits": search.ContactFilter(phone=digits),
        "zip": search.ContactFilter(zip=zip_code),
        "client+status+month": search.ContactFilter(
            workspace_id=wid, status=status, renewal_month=month
        ),
        "batch": search.ContactFilter(batch_id=batch),
    }


def bare(db, f: search.ContactFilter, scope: Scope) -> None:
    where, params = f.where(scope)
    with db.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM contacts c WHERE {where}", params).fetchall()
        cur.execute(
            "SELECT c.id, c.email, c.first_name, c.last_name, c.cell_phone, c.zip, c.city,"
            " c.state, c.status, c.reject_reason, c.renewal_month, c.batch_id, c.bison_lead_id,"
            " c.source, c.imported_at, c.workspace_id"
            f" FROM contacts c WHERE {where} ORDER BY c.id DESC LIMIT 50 OFFSET 50",
            params,
        ).fetchall()


def paired(a, b, rounds: int = 15) -> tuple[float, float]:
    """Median times of `a` and `b` run turn about (after one warm-up each), so a change in the
    machine's load weighs on both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        for fn, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def main() -> int:
    db = full_db()
    db.migrate()
    print(f"# dataset: {db.scalar('SELECT count(*) FROM contacts'):,} contacts")
    report = Report()
    scope = Scope.all()
    for name, f in cases(db).items():
        matched = search.count(db, scope, f)
        took, floor = paired(
            lambda f=f: search.search(db, scope, f, limit=50, offset=50),
            lambda f=f: bare(db, f, scope),
        )
        print(f"# {name}: {matched:,} matches")
        report.ratio(f"contacts.search[{name}]", took, floor, 2.0)
        report.absolute(f"contacts.search[{name}].total", took, 0.5)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
