"""All tables in one place (SQLAlchemy 2 ``Mapped`` style). Times are POSIX seconds (float, UTC).

The schema itself is created by the Alembic migrations in ``migrations/``; these classes describe it
to the ORM and must stay in step with the latest migration (a test checks it).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Assignment",
    "Base",
    "Job",
    "JobEvent",
    "LogChunk",
    "Node",
    "Org",
    "Project",
    "Site",
    "Token",
    "UsageRecord",
]


class Base(DeclarativeBase):
    pass


class Org(Base):
    """An organisation: a tenant that submits work, or a provider that owns nodes."""

    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="tenant")  # tenant | provider
    tenant_class: Mapped[str] = mapped_column(String(16), default="commercial")
    residency: Mapped[str] = mapped_column(String(200), default="ANY")
    budget_eur: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fair_share_weight: Mapped[float] = mapped_column(Float, default=1.0)
    flexibility_h: Mapped[float] = mapped_column(Float, default=0.0)
    created_s: Mapped[float] = mapped_column(Float)


class Project(Base):
    __tablename__ = "projects"
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("orgs.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    allocations_json: Mapped[str] = mapped_column(Text, default="{}")  # site id -> GPU-hours
    budget_eur: Mapped[float | None] = mapped_column(Float, nullable=True)


class Token(Base):
    """An API token: only its SHA-256 hash is stored. ``node_id`` set for a node credential."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[str] = mapped_column(String(200))  # comma-separated: admin,submit,read,provider,node
    node_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_s: Mapped[float] = mapped_column(Float)


class Site(Base):
    """A site as the domain's ``Site`` JSON; pools' node counts there are nominal (live = registered nodes)."""

    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc: Mapped[str] = mapped_column(Text)
    created_s: Mapped[float] = mapped_column(Float)


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_nodes_site_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("orgs.id"))
    name: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    site_id: Mapped[str] = mapped_column(String(64), ForeignKey("sites.id"), index=True)
    pool_id: Mapped[str] = mapped_column(String(64))
    accelerator: Mapped[str] = mapped_column(String(32))
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_memory_gb: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_gb: Mapped[float] = mapped_column(Float, default=0.0)
    availability: Mapped[str | None] = mapped_column(String(500), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    detected_by: Mapped[str] = mapped_column(String(16), default="declared")
    state: Mapped[str] = mapped_column(String(16), default="ready")  # ready | lost
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    last_heartbeat_s: Mapped[float] = mapped_column(Float)
    power_w: Mapped[float | None] = mapped_column(Float, nullable=True)
    power_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    telemetry_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered_s: Mapped[float] = mapped_column(Float)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_jobs_org_idem"),
        Index("ix_jobs_org_submitted", "org_id", "submitted_s", "id"),
        Index("ix_jobs_state", "state"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("orgs.id"))
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # pending scheduled running succeeded failed cancelled
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    spec_json: Mapped[str] = mapped_column(Text)
    gpus: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    submitted_s: Mapped[float] = mapped_column(Float)
    started_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    site_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pool_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    deferred_until_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class JobEvent(Base):
    """Every state change of a job, with its reason."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id"), index=True)
    at_s: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


class Assignment(Base):
    """One node's part of one attempt of a job. state: assigned delivered running stopping done."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_node_state", "node_id", "state"),
        Index("ix_assignments_job", "job_id", "attempt"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(32), ForeignKey("nodes.id"))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    gpu_indices_json: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="assigned")
    stop_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_s: Mapped[float] = mapped_column(Float)
    delivered_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_s: Mapped[float] = mapped_column(Float)


class LogChunk(Base):
    __tablename__ = "log_chunks"
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream: Mapped[str] = mapped_column(String(8), primary_key=True)
    offset: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    at_s: Mapped[float] = mapped_column(Float)


class UsageRecord(Base):
    """What one attempt used, written when it ends."""

    __tablename__ = "usage"
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    site_id: Mapped[str] = mapped_column(String(64))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    gpu_hours: Mapped[float] = mapped_column(Float)
    energy_kwh: Mapped[float] = mapped_column(Float)
    carbon_g: Mapped[float] = mapped_column(Float)
    cost_eur: Mapped[float] = mapped_column(Float)
    heat_reused_kwh: Mapped[float] = mapped_column(Float)
    energy_source: Mapped[str] = mapped_column(String(16))  # measured | estimate
