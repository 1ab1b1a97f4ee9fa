"""A throw-away PostgreSQL cluster for tests and benchmarks (Debian's binaries, run as ``postgres`` when root).

Not used by the server itself: ``hexagrid bench api`` and the integration fixtures start one when
``HEXAGRID_TEST_POSTGRES_URL`` names no cluster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PrivatePostgres", "create_database", "drop_database", "free_port", "pg_bin"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """initdb + pg_ctl in a temp dir on a free port; ``start()`` returns the maintenance database URL."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise FileNotFoundError(
                "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install -y postgresql)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="hx-pg-"))
        self.port = free_port()

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        assert self.bin is not None
        self._run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=300",
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        assert self.bin is not None
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(admin_url: str, prefix: str = "hx_") -> str:
    """A new empty database on the cluster of ``admin_url``; returns its URL."""
    import psycopg

    name = prefix + uuid.uuid4().hex[:16]
    with psycopg.connect(_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rpartition("/")[0]
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with contextlib.suppress(Exception), psycopg.connect(_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
