"""``hexagrid bench energy`` runs end to end on small inputs (figures only, no timing asserts)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hexagrid.cli.main import app


def test_bench_energy_json() -> None:
    r = CliRunner().invoke(app, ["bench", "energy", "--jobs", "2000", "--json"])
    assert r.exit_code == 0, r.output
    fig = json.loads(r.output)
    assert fig["zones"] == 42 and fig["hours"] == 8760 and fig["account_jobs"] == 2000
    assert set(fig["potential"]) == {"L1_S24", "L1_S168", "L24_S24", "L24_S168"}
    fr = fig["potential"]["L24_S24"]["FR"]
    assert 0 < fr[0] < fr[1]
    assert fig["oracle_bound_kg"] > 0 and fig["oracle_variables"] > 0
