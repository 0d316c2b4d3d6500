"""Result rows per second into SQLite and PostgreSQL, the way the ResultWriter writes them.

    .venv/bin/python bench/ingest.py [--rows 200000] [--batch 500] [--postgres-url URL]

Each batch is one transaction: results.insert_many (the driver's executemany, see
store.results.DriverStatement), then, in the second pass, rollups.apply on the same
batch (hour and day upserts). 50 monitors x 2 regions every 30 s, 10 % failures, so a
batch of 500 touches ~200 rollup rows. Every pass starts on a fresh database built by
the migrations: a file in a temporary folder, and a throw-away database on the
PostgreSQL server of --postgres-url (default $UPSTATE_TEST_POSTGRES_URL; skipped when
neither is given), dropped afterwards.
Prints wall rows/s and the client's CPU µs per row. Not part of make test.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import uvloop
from sqlalchemy.engine import make_url

from upstate.domain.enums import ErrorKind, MonitorKind, Status
from upstate.store import migrate, monitors, results, rollups
from upstate.store.db import make_engine, session_factory
from upstate.store.monitors import MonitorDraft, MonitorSource
from upstate.store.results import ResultRow

MONITORS = 50
REGIONS = ("local", "eu-west")
START = datetime(2026, 1, 1, tzinfo=UTC)


def make_rows(count: int, monitor_ids: list[int]) -> list[ResultRow]:
    rng = random.Random(1)
    rows = []
    for i in range(count):
        round_, slot = divmod(i, len(monitor_ids) * len(REGIONS))
        monitor_id = monitor_ids[slot // len(REGIONS)]
        at = START + timedelta(seconds=30 * round_ + rng.random())
        failed = rng.random() < 0.1
        ms = rng.lognormvariate(4, 0.6)
        rows.append(
            ResultRow(
                monitor_id=monitor_id,
                region=REGIONS[slot % len(REGIONS)],
                started_at=at,
                status=Status.DOWN if failed else Status.UP,
                duration_ms=10_000.0 if failed else ms,
                dns_ms=ms * 0.05,
                connect_ms=ms * 0.1,
                tls_ms=None if failed else ms * 0.3,
                ttfb_ms=None if failed else ms * 0.5,
                transfer_ms=None if failed else ms * 0.05,
                status_code=None if failed else 200,
                error_kind=ErrorKind.TIMEOUT if failed else None,
                error_message="no answer within 10s" if failed else None,
            )
        )
    return rows


async def one_pass(url: str, count: int, batch: int, with_rollups: bool) -> tuple[float, float]:
    """(rows/s wall, client CPU µs per row) on a freshly migrated database."""
    await migrate.upgrade(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            ids = []
            for n in range(MONITORS):
                draft = MonitorDraft(
                    key=f"m{n}",
                    name=f"M{n}",
                    kind=MonitorKind.HTTP,
                    source=MonitorSource.API,
                    definition={"url": f"https://m{n}.example/"},
                    interval_s=30,
                )
                ids.append((await monitors.upsert(session, draft, now=START)).id)
            await session.commit()
        rows = make_rows(count, ids)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            async with engine.begin() as connection:
                await results.insert_many(connection, chunk)
                if with_rollups:
                    # Written as they come in: "now" is the batch's newest result.
                    await rollups.apply(connection, chunk, chunk[-1].started_at)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await engine.dispose()
    return count / wall, cpu / count * 1e6


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def run(args: argparse.Namespace) -> None:
    print(f"{args.rows:,} result rows in batches of {args.batch}, one transaction per batch")
    print(f"{'database':<12}{'pass':<22}{'rows/s':>10}{'CPU µs/row':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for with_rollups in (False, True):
            url = f"sqlite:///{Path(folder) / f'ingest-{with_rollups}.db'}"
            rate, cpu = await one_pass(url, args.rows, args.batch, with_rollups)
            label = "insert_many + rollups" if with_rollups else "insert_many"
            print(f"{'sqlite':<12}{label:<22}{rate:>10,.0f}{cpu:>12.1f}", flush=True)
    if not args.postgres_url:
        print("postgresql: skipped (no --postgres-url or UPSTATE_TEST_POSTGRES_URL)")
        return
    for with_rollups in (False, True):
        name = f"upstate_bench_{secrets.token_hex(4)}"
        await _admin(args.postgres_url, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(args.postgres_url).set(database=name)
            plain = url.render_as_string(hide_password=False)
            rate, cpu = await one_pass(plain, args.rows, args.batch, with_rollups)
        finally:
            await _admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        label = "insert_many + rollups" if with_rollups else "insert_many"
        print(f"{'postgresql':<12}{label:<22}{rate:>10,.0f}{cpu:>12.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres-url", default=os.environ.get("UPSTATE_TEST_POSTGRES_URL"))
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
