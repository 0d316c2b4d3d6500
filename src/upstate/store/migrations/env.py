"""Alembic's entry point. It runs on the connection upstate.store.migrate hands over
(inside that caller's transaction), or, for the alembic command line (autogenerate),
on a connection of its own to `-x url=…` or UPSTATE_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from upstate.config import Settings
from upstate.store.db import async_url, make_engine
from upstate.store.tables import metadata
from upstate.store.types import UtcDateTime

OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "render_as_batch": True,  # SQLite alters tables by copying them
    "compare_type": True,
    "compare_server_default": True,
}


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write migrations in plain SQLAlchemy types, never upstate's own (history is frozen)."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection, transactional_ddl=True, render_item=render_item, **OPTIONS
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    engine = make_engine(url, foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def database_url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or Settings().database_url


if context.is_offline_mode():
    context.configure(
        url=async_url(database_url()), literal_binds=True, render_item=render_item, **OPTIONS
    )
    with context.begin_transaction():
        context.run_migrations()
elif (handed_over := context.config.attributes.get("connection")) is not None:
    run_on(handed_over)
else:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    asyncio.run(run_with_own_engine(database_url()))
