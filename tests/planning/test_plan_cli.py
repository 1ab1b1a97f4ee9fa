"""``hexagrid plan``: JSON keys, files written, infeasible exit status, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from planning_helpers import BASE, doc

from hexagrid.scenarios import load_scenario


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hexagrid.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _scenario_file(tmp_path: Path, **changes: object) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(doc(**changes)), encoding="utf-8")
    return p


def test_plan_json_and_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = _run("plan", "--scenario", str(_scenario_file(tmp_path)), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key in ("status", "total_gw", "total_accelerators", "capex_eur", "tco2", "sites_opened"):
        assert key in data
    assert data["status"] == "optimal"
    assert data["total_accelerators"] == 64
    assert data["sites_opened"] == 1
    assert data["new_site_ids"] == ["b"]
    for name in ("plan.csv", "plan.json", "totals.json", "capacity.png", "map.png", "fleet-2027.yaml"):
        assert (out / name).is_file(), name
    assert "fleet-2026.yaml" not in data["files"]  # nothing operates in 2026
    fleet = load_scenario(out / "fleet-2027.yaml")
    assert fleet.fleet.gpus == 64
    assert fleet.sites[0].id == "b"
    assert fleet.sites[0].pools[0].gpus_per_node == 8
    rows = (out / "plan.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("site,year,cooling,mw,new_mw,gpus_H100,capex_eur")


def test_plan_outputs_are_deterministic(tmp_path: Path) -> None:
    scn = _scenario_file(tmp_path)
    for d in ("o1", "o2"):
        assert _run("plan", "--scenario", str(scn), "--out", str(tmp_path / d), "--json", "--no-plots").returncode == 0
    for name in ("plan.csv", "fleet-2027.yaml"):
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes()


def test_infeasible_plan_exits_1_with_a_diagnosis(tmp_path: Path) -> None:
    demand = [dict(BASE["demand"][0], year=2026)]
    r = _run("plan", "--scenario", str(_scenario_file(tmp_path, demand=demand)), "--out", str(tmp_path / "o"), "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["status"] == "infeasible"
    assert "lead_time" in data["diagnosis"]["binding"]


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    d = doc()
    d["sites"][0]["grid"][0]["mw"] = -1
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    r = _run("plan", "--scenario", str(p), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hexagrid: error:") and "sites[0].grid[0].mw" in lines[0]
    assert "Traceback" not in r.stderr
    r = _run("plan", "--scenario", "no-such-plan")
    assert r.returncode == 2 and "france-2030" in r.stderr


@pytest.mark.slow
def test_france_2030_solves_and_respects_commitments(tmp_path: Path) -> None:
    from hexagrid.planning import load_planning, solve_plan
    from hexagrid.planning.outputs import write_outputs

    plan = solve_plan(load_planning("france-2030"))
    assert plan.feasible
    assert plan.mip_gap <= 0.005 + 1e-9
    ids = plan.site_ids
    fluid = ids.index("fluidstack-campus")
    assert plan.mw[fluid, plan.years.index(2028)] >= 1000 - 1e-6
    assert plan.gpus[fluid, :, plan.years.index(2028)].sum() >= 500_000
    totals = plan.totals()
    assert totals["total_gw"] <= sum(s.max_grid_mw for s in plan.scenario.sites) / 1000
    paths = write_outputs(plan, tmp_path, plots=False)
    fleet = load_scenario(paths["fleet-2030.yaml"])
    # the planned MW, raised only where NEXTGEN is shown as B200 stand-ins that draw more (documented)
    nextgen = plan.types.index("NEXTGEN")
    for site in fleet.sites:
        s = ids.index(site.id)
        if plan.gpus[s, nextgen, -1] == 0:
            assert site.power_mw == pytest.approx(plan.mw[s, -1], abs=0.01)
        else:
            assert site.power_mw >= plan.mw[s, -1] - 1e-6
