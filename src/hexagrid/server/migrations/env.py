"""Alembic environment: uses the connection handed over by ``upgrade_database`` (or the ini URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hexagrid.server.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as c:
        _run(c)
