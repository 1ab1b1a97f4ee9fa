"""``validate_plan``: each planned year's demand replayed on a replica of its fleet by the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from planning_helpers import BASE, scenario

from hexagrid.planning import solve_plan
from hexagrid.planning.outputs import fleet_scenario
from hexagrid.planning.validate import scale_fleet, validate_plan


def test_scale_fleet_keeps_shapes_and_power_ratio() -> None:
    sites = [dict(BASE["sites"][0]), dict(BASE["sites"][1])]
    demand = [dict(BASE["demand"][0], gpu_hours=10_000_000)]
    plan = solve_plan(scenario(sites=sites, demand=demand))
    full = fleet_scenario(plan, 2027)
    rep = scale_fleet(full, 10.0)
    for a, b in zip(full["sites"], rep["sites"], strict=True):
        for pa, pb in zip(a["pools"], b["pools"], strict=True):
            assert pb["gpus_per_node"] == pa["gpus_per_node"] and pb["accelerator"] == pa["accelerator"]
            assert pb["nodes"] == max(1, round(pa["nodes"] / 10))
        ratio = sum(p["nodes"] for p in b["pools"]) / sum(p["nodes"] for p in a["pools"])
        assert b["power_mw"] == pytest.approx(a["power_mw"] * ratio, rel=1e-4)


@pytest.mark.parametrize("policy", ["backfill", "hexagrid"])
def test_validation_replays_the_planned_year(tmp_path: Path, policy: str) -> None:
    plan = solve_plan(scenario())
    v = validate_plan(plan, tmp_path, days=1.0, seed=1, max_jobs=300, policy=policy, show_progress=False)
    assert (tmp_path / "validation.json").is_file()
    assert v["policy"] == policy
    [year] = v["years"]  # nothing operates in 2026
    assert year["year"] == 2027
    assert year["scale"] == 1.0 and year["replica_gpus"] == 64  # small enough to replay whole
    assert year["jobs"] > 0
    assert year["constraint_violations"] == 0
    # the plan sized 64 GPUs for ~71% busy (1M reference hours / 2.5 / (64 x 8760)): the replay is busy
    assert 0.2 < year["utilisation"] <= 1.0
    again = validate_plan(plan, None, days=1.0, seed=1, max_jobs=300, policy=policy, show_progress=False)
    assert again["years"] == v["years"]  # same inputs and seed, same figures
