"""Shares and mix files: YAML in, every field error named at once, defaults kept for what is left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hexagrid.cli.main import app
from hexagrid.errors import DataError, ValidationFailed
from hexagrid.workloads import AttributeShares, SyntheticMix, load_mix, load_shares

runner = CliRunner()


def test_shares_file_partial_groups_keep_defaults(tmp_path: Path) -> None:
    path = tmp_path / "shares.yaml"
    path.write_text("academic_share: 0.5\nresidency:\n  commercial_sensitive: {FR: 0.9, EU: 0.1, ANY: 0}\n")
    shares = load_shares(path)
    assert shares.academic_share == 0.5
    assert shares.residency["commercial_sensitive"].FR == 0.9
    assert shares.residency["academic"] == AttributeShares().residency["academic"]
    assert load_shares(write_empty(tmp_path)) == AttributeShares()


def write_empty(tmp_path: Path) -> Path:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    return p


def test_shares_file_errors_all_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("academic_share: 1.4\ndeadline_share: -1\nbogus: 3\n")
    with pytest.raises(ValidationFailed) as info:
        load_shares(path)
    lines = info.value.lines()
    assert len(lines) == 3
    assert any("academic_share: must be between 0 and 1, got 1.4" in line for line in lines)
    assert any("bogus: unknown field" in line for line in lines)
    assert all(line.startswith(str(path)) for line in lines)
    path.write_text("residency:\n  martian: {FR: 1, EU: 0, ANY: 0}\n")
    with pytest.raises(ValidationFailed, match=r"unknown group.s. martian"):
        load_shares(path)
    path.write_text("- a list\n")
    with pytest.raises(ValidationFailed, match="must be a mapping of AttributeShares fields"):
        load_shares(path)
    with pytest.raises(DataError, match="cannot read"):
        load_shares(tmp_path / "missing.yaml")


def test_mix_file(tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text("growth_per_year: 0\nkind_shares: {training: 1}\n")
    mix = load_mix(path)
    assert mix.growth_per_year == 0 and mix.kind_shares == {"training": 1}
    assert mix.sizes == SyntheticMix().sizes
    res = runner.invoke(app, ["trace", "synth", "-n", "3000", "--mix", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["kind"] == {"training": 3000}


def test_trace_map_with_shares_file(tmp_path: Path) -> None:
    path = tmp_path / "shares.yaml"
    path.write_text("deadline_share: 1.0\npreemptible_share: {training: 0, fine_tuning: 0, inference: 0, batch: 0}\n")
    res = runner.invoke(app, ["trace", "map", "itp", "--shares", str(path), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["with_deadline"] == 69_351 and info["preemptible"] == 0
