"""``hexagrid bench api`` end to end on SQLite (small): every submission answered 201 is stored."""

from __future__ import annotations

import pytest

from hexagrid.benchmarks.api import run_api_bench


@pytest.mark.timeout(180)
def test_bench_api_sqlite_small() -> None:
    res = run_api_bench(submits=200, agents=0, postgres=False, clients=1, connections=4)
    f = res.figures
    assert f["submit_errors_sqlite"] == 0 and not res.notes
    assert f["submit_per_s_sqlite"] > 0 and f["submit_p99_ms_sqlite"] >= f["submit_p50_ms_sqlite"] > 0
    if "cpu_ms_server_per_submit_sqlite" in f:  # Linux: CPU per request by side
        assert f["cpu_ms_server_per_submit_sqlite"] > 0 and f["cpu_ms_client_per_submit_sqlite"] > 0
