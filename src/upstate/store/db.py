"""Engines and sessions: people write `sqlite:///path` or `postgresql://…`; we pick async drivers.

SQLite gets the settings a server process needs: WAL (readers never block the
writer), synchronous=NORMAL (durable at checkpoints, fast commits), foreign keys
on, and a busy timeout so a second writer waits instead of failing. Python's sqlite3
module would start transactions lazily and silently commit around DDL; we turn that
off and emit BEGIN ourselves, so SQLite transactions behave like PostgreSQL's
(transactional migrations, consistent reads, working SAVEPOINTs).

A transaction that reads and then writes on SQLite should begin IMMEDIATE (take the
write lock up front): a deferred one that finds another writer has committed since
its read fails at once with "database is locked", busy timeout or not. Ask for it
with `execution_options=IMMEDIATE`:

    async with sessions() as session:
        await session.connection(execution_options=IMMEDIATE)
        ...  # reads and writes
        await session.commit()

PostgreSQL ignores the option.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

Db = AsyncSession | AsyncConnection
"""What repositories take: a request's session or a job's connection, in a transaction."""

SQLITE_BUSY_TIMEOUT_MS = 5_000
IMMEDIATE: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
_BEGIN_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}


def async_url(url: str) -> URL:
    """The async-driver URL for a database URL as people write it.

    sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory: -> aiosqlite;
    postgresql://user:pass@host:port/db (or postgres://) -> asyncpg, with libpq's
    `sslmode` translated to asyncpg's `ssl`.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        query = dict(parsed.query)
        sslmode = query.pop("sslmode", None)
        if sslmode is not None:
            query["ssl"] = sslmode
        return parsed.set(drivername="postgresql+asyncpg", query=query)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
    )


def make_engine(url: str, *, foreign_keys: bool = True, echo: bool = False) -> AsyncEngine:
    """One engine per process, created where things are wired (cli.py, web/app.py).

    `foreign_keys=False` is for migrations only (see migrate.py); it affects SQLite.
    """
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        return _sqlite_engine(target, foreign_keys=foreign_keys, echo=echo)
    engine = create_async_engine(target, echo=echo, pool_pre_ping=True)
    # executemany INSERTs as multi-row VALUES pages rather than one EXECUTE per row, as
    # SQLAlchemy's psycopg2 dialect does by default: ~1.3x rows/s (bench/ingest.py). So an
    # executemany upsert must not repeat a conflict key within one batch.
    engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (nothing lazy-loads behind an await)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_name(db: Db) -> str:
    if isinstance(db, AsyncConnection):
        return db.dialect.name
    return db.get_bind().dialect.name


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL unless it already is. The switch needs the file to itself and
    SQLite answers "locked" at once, without its busy handler, while another connection
    writes (two processes creating the same new file): so wait here, as a writer would."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(target: URL, *, foreign_keys: bool, echo: bool) -> AsyncEngine:
    database = target.database or ""
    in_memory = database in ("", ":memory:") or target.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or every checkout would see a new empty database.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target, echo=echo, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN/COMMIT: see _on_begin
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching a new file to WAL takes a lock too, and a
        # second process starting at the same moment must wait for it, not fail.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            _use_wal(cursor)
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        mode = str(options.get("sqlite_begin", "DEFERRED")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {sorted(_BEGIN_MODES)}, got {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
