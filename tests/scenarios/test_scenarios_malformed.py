"""The malformed corpus: each file is one mistake; the CLI exits 2 and names the field, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scenario_cli import run_cli

HERE = Path(__file__).parent
MALFORMED = HERE / "malformed"

#: file -> (field path in the message, fragment of the message). Path "" = the whole file.
EXPECTED: dict[str, tuple[str, str]] = {
    "unknown_top_level_key": ("fleet_name", "unknown field 'fleet_name'; accepted: name, description"),
    "unknown_site_key": ("sites[0].colour", "unknown field 'colour'; accepted: id, name, operator"),
    "unknown_pool_key": ("sites[1].pools[0].gpu_count", "unknown field 'gpu_count'; accepted: id, accelerator"),
    "unknown_project_key": ("tenants[0].projects[0].quota", "unknown field 'quota'; accepted: id, allocations_gpu_h"),
    "gpus_per_node_zero": ("sites[1].pools[0].gpus_per_node", "must be between 1 and 16, got 0"),
    "negative_power": ("sites[1].power_mw", "must be greater than 0 and at most 10000, got -5"),
    "bad_cooling_enum": (
        "sites[1].cooling",
        "must be one of air, direct_liquid, closed_loop_water, immersion, got 'fans'",
    ),
    "bad_country_name": (
        "sites[1].country",
        "ISO 3166 alpha-2 country code in capitals, such as FR or DE, got 'France'",
    ),
    "unknown_country_code": ("sites[1].country", "unknown country code 'XX'"),
    "bad_residency": ("tenants[0].residency", "must be FR, EU, ANY or a list of country codes, got 'Mars'"),
    "duplicate_site_id": ("sites[1].id", "duplicate site id 'hpc' (first at sites[0])"),
    "duplicate_pool_id": ("sites[1].pools[1].id", "duplicate pool id 'h100' in site 'cloud' (first at pools[0])"),
    "unknown_accelerator": ("sites[1].pools[0].accelerator", "unknown accelerator 'H900'; known: V100, A100, H100"),
    "missing_required_field": ("sites[1].power_mw", "required field is missing"),
    "wrong_type": ("sites[1].pools[0].nodes", "must be a whole number, got 'fifty'"),
    "pue_below_one": ("sites[1].pue", "must be between 1 and 3, got 0.9"),
    "bad_window": ("sites[1].availability", "cannot read window 'weekends and nights'"),
    "online_until_before_from": (
        "sites[1].online_until",
        "online_until (2025-01-01) must be after online_from (2026-06-01)",
    ),
    "heat_reuse_without_taker": ("sites[0].heat_taker", "heat_taker is required when heat_reuse_fraction > 0"),
    "allocation_on_unknown_site": (
        "tenants[0].projects[0].allocations_gpu_h.mars",
        "allocation on unknown site 'mars'; sites: hpc, cloud",
    ),
    "allocation_on_private_site": ("tenants[0].projects[0].allocations_gpu_h.cloud", "public_supercomputer sites only"),
    "yaml_syntax_error": ("", "line 5, column 12: YAML syntax error: mapping values are not allowed here"),
    "empty_file": ("", "the file is empty"),
    "top_level_list": ("", "the top level must be a mapping of fields (name, sites, tenants, ...), got a list"),
    "duplicate_yaml_key": ("", "line 32, column 5: YAML syntax error: duplicate key 'pue' (first at line 31)"),
    "bad_date": ("sites[1].online_from", "must be a date such as 2026-01-01, got '2026-13-01'"),
    "missing_price": ("sites[1].price_eur_per_gpu_h", "lacks a price for H100"),
    "enterprise_without_window": ("sites[1].availability", "an enterprise_idle site needs availability windows"),
    "unknown_extends": (
        "extends",
        "no scenario 'france-1999': neither a built-in name nor a file; built-in scenarios: europe-2026",
    ),
    "bad_tenant_class": ("tenants[0].class", "must be one of academic, commercial, got 'student'"),
    "estimate_for_unknown_field": ("sites[1].estimates", "estimates/sources name unknown field 'colour'"),
    "bad_timezone": ("sites[1].timezone", "unknown time zone 'Europe/Atlantis'"),
    "bad_scenario_name": ("name", "must be an id of lowercase letters, digits, '.', '_' or '-'"),
    "grid_zone_in_another_country": ("sites[1].grid_zone", "grid zone 'DE' is not in the site's country 'FR'"),
    "no_sites": ("sites", "must have at least 1 item(s), got 0"),
}


def test_corpus_and_table_agree() -> None:
    files = sorted(p.stem for p in MALFORMED.glob("*.yaml"))
    assert len(files) >= 15
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_exits_2_naming_the_field(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, fragment = EXPECTED[name]
    file = str(MALFORMED / f"{name}.yaml")
    result = run_cli(capsys, monkeypatch, "scenario", "validate", file)
    assert result.code == 2
    assert "Traceback" not in result.err and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err  # one mistake, one line
    prefix = f"hexagrid: error: {file}: " + (f"{path}: " if path else "")
    assert lines[0].startswith(prefix), lines[0]
    assert fragment in lines[0]


def test_several_errors_are_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (MALFORMED.parent / "valid" / "minimal.yaml").read_text()
    text = text.replace("power_mw: 3", "power_mw: -3").replace("cooling: air", "cooling: fans")
    text = text.replace("gpus_per_node: 4", "gpus_per_node: 0").replace("residency: FR", "residency: Mars")
    text = text.replace("{hpc: 1000}", "{hpc: 1000, mars: 5}")
    bad = tmp_path / "many.yaml"
    bad.write_text(text)
    result = run_cli(capsys, monkeypatch, "scenario", "validate", str(bad))
    assert result.code == 2
    lines = result.err.splitlines()
    paths = [line.split(": ")[3] for line in lines]
    assert paths == [
        "sites[0].pools[0].gpus_per_node",
        "sites[1].power_mw",
        "sites[1].cooling",
        "tenants[0].residency",
        "tenants[0].projects[0].allocations_gpu_h.mars",
    ]
    assert all(line.startswith(f"hexagrid: error: {bad}: ") for line in lines)


def test_real_process_exit_status_and_no_traceback() -> None:
    """The installed entry point, as a user runs it: a separate process."""
    bad = MALFORMED / "gpus_per_node_zero.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", "scenario", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"hexagrid: error: {bad}: sites[1].pools[0].gpus_per_node: must be between 1 and 16, got 0"
    )
    ok = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", "scenario", "validate", "france-2028"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: france-2028 (12 sites, 1,041,660 GPUs, 1,661.5 MW)")
