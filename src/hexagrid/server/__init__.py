"""The control plane: a FastAPI app over SQLAlchemy (SQLite or PostgreSQL) and the live scheduling loop.

Thin routers (``routers/``) call module-level service functions (``services.py``, ``agents.py``)
with keyword arguments; all tables live in ``models.py``; the schema is owned by Alembic migrations.
"""

from hexagrid.server.settings import Settings

__all__ = ["Settings"]
