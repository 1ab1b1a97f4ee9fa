"""The group committer: concurrent writes share a transaction; a failing write fails only its own request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from hexagrid.errors import ValidationFailed
from hexagrid.server.writer import GroupCommitter


def _insert(conn: Connection, args: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if a == "refuse":
            out.append(ValidationFailed("request", []))
            continue
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": a})  # "boom" breaks the CHECK below
        out.append(a)
    return out


@pytest.fixture
def committer(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (v TEXT NOT NULL CHECK (v <> 'boom'))"))
    w = GroupCommitter(engine)
    w.start()
    yield w, engine
    w.stop()
    engine.dispose()


def test_concurrent_writes_are_committed_in_shared_transactions(committer: Any) -> None:
    w, engine = committer

    async def main() -> list[Any]:
        return await asyncio.gather(*(w.run(_insert, f"v{i}") for i in range(200)))

    got = asyncio.run(main())
    assert got == [f"v{i}" for i in range(200)]
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar_one() == 200
    assert w.writes == 200 and w.batches < 200


def test_a_failing_write_fails_only_its_own_request(committer: Any) -> None:
    w, engine = committer

    async def main() -> list[Any]:
        args = [f"v{i}" for i in range(20)] + ["boom", "refuse"]
        return await asyncio.gather(*(w.run(_insert, a) for a in args), return_exceptions=True)

    got = asyncio.run(main())
    assert got[:20] == [f"v{i}" for i in range(20)]
    assert isinstance(got[20], Exception) and "CHECK" in str(got[20])
    assert isinstance(got[21], ValidationFailed)  # an expected refusal is returned, not raised in the batch
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar_one() == 20
