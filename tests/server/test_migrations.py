"""The Alembic migrations and the ORM models describe the same schema; upgrading twice is harmless."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hexagrid.server.db import make_engine, upgrade_database
from hexagrid.server.models import Base


def test_models_match_the_latest_migration(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_database(engine)
    upgrade_database(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {"orgs", "tokens", "sites", "nodes", "jobs", "job_events", "assignments", "log_chunks", "usage"} <= tables
    engine.dispose()
