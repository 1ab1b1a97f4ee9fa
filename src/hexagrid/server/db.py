"""Engine, sessions and migrations. SQLite (WAL, busy timeout) by default; PostgreSQL by URL.

The schema is created and upgraded by Alembic (``upgrade_database``) at server start, so a new
version of the server migrates an existing database in place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from hexagrid.errors import InputError, ServiceError

__all__ = ["Database", "is_postgres", "make_engine", "upgrade_database"]

_HERE = Path(__file__).resolve().parent


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine tuned for the server: WAL + busy timeout on SQLite, a sized pool on PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size, max_overflow=20
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if is_postgres(url):
        return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
    raise InputError(
        f"HEXAGRID_DATABASE_URL: unsupported database URL scheme in {url.split(':', 1)[0]!r}; "
        "accepted: sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(_HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    try:
        with engine.begin() as conn:
            if is_postgres(str(engine.url)):
                # serialise concurrent migrations of several replicas starting at once
                from sqlalchemy import text

                conn.execute(text("SELECT pg_advisory_xact_lock(7305001)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except Exception as exc:  # a database that cannot be reached or migrated is a service problem
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ServiceError(
            f"database {engine.url.render_as_string(hide_password=True)}: cannot connect or migrate: "
            f"{first[0] if first else type(exc).__name__}"
        ) from exc


class Database:
    """The engine and a session factory; ``session()`` is a unit of work that commits or rolls back."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.postgres = is_postgres(url)
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
