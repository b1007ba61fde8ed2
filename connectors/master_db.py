"""The agency's master contacts database: a SQLAlchemy engine for its URL. Knows nothing of our
store; the caller passes the URL and, when the URL has none, the password."""

from __future__ import annotations

import sqlalchemy as sa


def connect(url: str, password: str | None = None) -> sa.Engine:
    """An engine for `url` (plain `postgresql://` uses psycopg 3), checking connections before
    use. `password` fills in a URL that has none; the URL's own password wins."""
    u = sa.make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if u.password is None and password:
        u = u.set(password=password)
    return sa.create_engine(u, pool_pre_ping=True)


def ping(url: str, password: str | None = None, *, timeout: int = 10) -> str:
    """Run `SELECT 1` on a fresh connection, with `password` in place of the URL's own (to test
    a stored password). Returns `host:port/database`; raises SQLAlchemy's error."""
    u = sa.make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if password:
        u = u.set(password=password)
    args = {"connect_timeout": int(timeout)} if u.get_backend_name() == "postgresql" else {}
    eng = sa.create_engine(u, poolclass=sa.pool.NullPool, connect_args=args)
    try:
        with eng.connect() as con:
            con.execute(sa.text("SELECT 1")).scalar_one()
    finally:
        eng.dispose()
    return f"{u.host or ''}{f':{u.port}' if u.port else ''}/{u.database or ''}"
