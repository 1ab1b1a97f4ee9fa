"""``hexagrid scenario list|show|validate`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scenario_cli import run_cli

from hexagrid.domain import CATALOG, JobKind
from hexagrid.energy.power import DEFAULT_UTILISATION, busy_gpu_it_power_w
from hexagrid.scenarios import builtin_names, load_scenario

VALID = Path(__file__).parent / "valid"


def test_list_one_line_each(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines] == builtin_names()
    f28 = next(line for line in lines if line.startswith("france-2028"))
    assert "12 sites" in f28 and "1,041,660 GPUs" in f28 and "1,661.5 MW" in f28


def test_list_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "list", "--json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert [d["name"] for d in doc] == builtin_names()
    f25 = next(d for d in doc if d["name"] == "france-2025")
    assert (f25["sites"], f25["accelerators"], f25["start_date"]) == (7, 13_660, "2025-01-01")


def test_show_tables(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "show", "europe-2026")
    assert result.code == 0
    out = result.out
    for header in ("site", "kind", "country", "zone", "MW", "PUE", "cooling", "tier", "access", "GPUs by accelerator"):
        assert header in out
    for site_id in ("jean-zay", "alice-recoque", "se-stockholm-cloud", "pl-warsaw-cloud"):
        assert site_id in out
    assert "SE-SE3" in out and "closed_loop_water" in out and "secnumcloud" in out
    assert "Tenants" in out and "genai-startup" in out
    assert out.rstrip().endswith("15 sites, 113,660 GPUs, 181 MW, 14 tenants")


def test_show_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "show", "france-2028", "--json")
    assert result.code == 0
    doc = json.loads(result.out)
    sc = load_scenario("france-2028")
    assert doc["name"] == "france-2028" and doc["description"] == sc.description
    assert doc["totals"]["sites"] == 12
    assert doc["totals"]["accelerators"] == sc.fleet.gpus == sum(s["gpus"] for s in doc["sites"])
    assert doc["totals"]["power_mw"] == pytest.approx(sc.fleet.power_mw)
    assert doc["totals"]["accelerators_by_type"]["B200"] == 500_000 + 500_000 + 8_000  # Fluidstack, Grand Est, Valence
    assert sum(doc["totals"]["accelerators_by_type"].values()) == doc["totals"]["accelerators"]
    jz = next(s for s in doc["sites"] if s["id"] == "jean-zay")
    assert jz["kind"] == "public_supercomputer" and jz["access"] == "academic" and jz["grid_zone"] == "FR"
    assert jz["gpus_by_accelerator"] == {"V100": 2000, "H100": 1456, "A100": 416}
    keys = {
        "id",
        "name",
        "operator",
        "kind",
        "country",
        "region",
        "grid_zone",
        "power_mw",
        "pue",
        "cooling",
        "tier",
        "access",
        "gpus",
        "gpus_by_accelerator",
        "latitude",
        "longitude",
        "online_from",
        "online_until",
    }
    assert all(keys <= set(s) for s in doc["sites"])
    assert doc["defaults"]["start_date"] == "2028-01-01"


def test_show_a_file(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "show", str(VALID / "minimal.yaml"), "--json")
    assert result.code == 0
    totals = json.loads(result.out)["totals"]
    # every GPU training, by the shared power model: 400 H100 in 4-GPU nodes at PUE 1.2, 400 in 8-GPU nodes at 1.3
    h100, u = CATALOG["H100"], DEFAULT_UTILISATION[JobKind.TRAINING]
    per_gpu_w = {g: busy_gpu_it_power_w(h100.tdp_w, h100.idle_w, float(g), u) for g in (4, 8)}
    expected_w = 400 * per_gpu_w[4] * 1.2 + 400 * per_gpu_w[8] * 1.3
    assert totals.pop("training_load_mw") == pytest.approx(expected_w / 1e6)
    assert totals == {
        "sites": 2,
        "accelerators": 800,
        "power_mw": 8.0,
        "accelerators_by_type": {"H100": 800},
        "tenants": 2,
    }


@pytest.mark.parametrize("name", ["france-2025", "france-2026", "france-2028", "europe-2026"])
def test_validate_builtins(name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "validate", name)
    assert result.code == 0, result.err
    sc = load_scenario(name)
    assert result.out.startswith(f"ok: {name} ({len(sc.sites)} sites, {sc.fleet.gpus:,} GPUs, ")


def test_validate_file_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(VALID / "minimal.yaml")
    result = run_cli(capsys, monkeypatch, "scenario", "validate", path)
    assert (result.code, result.out.strip()) == (0, f"ok: {path} (2 sites, 800 GPUs, 8 MW)")


def test_unknown_scenario_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for command in ("show", "validate"):
        result = run_cli(capsys, monkeypatch, "scenario", command, "atlantis")
        assert result.code == 2
        assert result.err.startswith("hexagrid: error: no scenario 'atlantis'")
        assert "france-2026" in result.err and "Traceback" not in result.err


def test_validate_several(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bad = str(Path(__file__).parent / "malformed" / "pue_below_one.yaml")
    result = run_cli(
        capsys, monkeypatch, "scenario", "validate", "france-2025", bad, "nowhere", str(VALID / "minimal.yaml")
    )
    assert result.code == 2
    assert [line.split(" (")[0] for line in result.out.splitlines()] == [
        "ok: france-2025",
        f"ok: {VALID / 'minimal.yaml'}",
    ]
    errors = result.err.splitlines()
    assert errors[0] == f"hexagrid: error: {bad}: sites[1].pue: must be between 1 and 3, got 0.9"
    assert errors[1].startswith("hexagrid: error: no scenario 'nowhere'")
    assert len(errors) == 2


def test_show_one_site_with_provenance(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "show", "france-2028", "--site", "sesterce-grand-est-1", "--json")
    assert result.code == 0
    doc = json.loads(result.out)
    fields = {f["field"]: f for f in doc["fields"]}
    assert fields["power_mw"]["value"] == 300 and fields["power_mw"]["source"].startswith("FACTS: Sesterce Grand Est")
    assert fields["pue"]["estimate"].startswith("estimate:") and fields["pue"]["source"] is None
    assert fields["pools"]["value"] == ["b200-a: 15,625 x 8 B200", "b200-b: 15,625 x 8 B200"]
    assert doc["gpus"] == 250_000 and doc["training_load_mw"] > 300
    table = run_cli(capsys, monkeypatch, "scenario", "show", "france-2025", "--site", "jean-zay")
    assert table.code == 0
    assert "Paris-Saclay heat network" in table.out and "estimate: FACTS ~4,000 MWh/yr recovered" in table.out
    missing = run_cli(capsys, monkeypatch, "scenario", "show", "france-2025", "--site", "atlantis")
    assert missing.code == 2
    assert missing.err.startswith("hexagrid: error: site 'atlantis' not in fleet; sites: jean-zay")


def test_diff(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(capsys, monkeypatch, "scenario", "diff", "france-2026", "france-2028", "--json")
    assert result.code == 0
    d = json.loads(result.out)
    assert d["sites"]["added"] == ["sesterce-grand-est-1", "sesterce-grand-est-2"]
    assert d["sites"]["removed"] == []
    assert list(d["sites"]["changed"]) == ["fluidstack-fr"]
    fluidstack = d["sites"]["changed"]["fluidstack-fr"]
    assert fluidstack["power_mw"] == {"from": 100.0, "to": 1000.0}
    assert fluidstack["pools"]["from"] == ["b200: 7,500 x 8 B200"]
    assert d["tenants"]["added"] == ["frontier-model-lab", "national-inference"]
    assert d["totals"]["accelerators"] == {"from": 101_660, "to": 1_041_660}
    back = json.loads(run_cli(capsys, monkeypatch, "scenario", "diff", "france-2028", "france-2026", "--json").out)
    assert back["sites"]["removed"] == d["sites"]["added"]
    same = json.loads(run_cli(capsys, monkeypatch, "scenario", "diff", "france-2025", "france-2025", "--json").out)
    assert same["sites"] == {"added": [], "removed": [], "changed": {}}
    table = run_cli(capsys, monkeypatch, "scenario", "diff", "france-2025", "france-2026")
    assert "alice-recoque" in table.out and "added" in table.out and "GPUs 13,660 -> 101,660" in table.out
