"""Storage: all of Upstate's SQL, on SQLite (one process) or PostgreSQL (many).

- db.py: make_engine(url), session_factory(engine), the `Db` type repositories take
- tables.py: the schema (Core tables); migrations/: the Alembic tree; migrate.py: upgrade
- monitors.py, states.py, results.py, changes.py, rollups.py, pings.py: repositories
- retention.py: chunked deletes of old data

Repositories are module functions taking an AsyncSession or AsyncConnection already in
a transaction. They never commit (the request or job does) and never call out. They
take and return frozen dataclasses, never ORM objects, and time is always an argument.
"""
