"""The one Alembic tree of Upstate. Run it with upstate.store.migrate, not by hand.

New revision (after changing store/tables.py), against an up-to-date database:

    .venv/bin/alembic -c src/upstate/store/migrations/alembic.ini \
        -x url=sqlite:///./data/upstate.db revision --autogenerate --rev-id 0002 -m "what changed"

Then read and tidy the file: migrations are frozen history, so they use plain
sqlalchemy types and literal values, never upstate code that may change later.
"""
