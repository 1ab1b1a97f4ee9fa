"""``hexagrid trace``: info, map and synth print the counts; bad input is one line and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hexagrid.cli.main import app
from hexagrid.workloads import load_csv

runner = CliRunner()


def test_info_json_reproduces_readme_counts() -> None:
    res = runner.invoke(app, ["trace", "info", "itp", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["jobs"] == 69_351
    assert info["gpu_hours"] == 1_632_719.7
    assert info["gpu_histogram"][0] == {"gpus": 1, "jobs": 57_682}
    assert [h["gpus"] for h in info["gpu_histogram"]] == [1, 2, 4, 8, 16, 32, 64]


def test_info_table() -> None:
    res = runner.invoke(app, ["trace", "info", "philly"])
    assert res.exit_code == 0, res.output
    assert "82,247" in res.stdout and "GPUs per job" in res.stdout and "76,627" in res.stdout


def test_map_prints_what_was_mapped() -> None:
    res = runner.invoke(app, ["trace", "map", "itp", "--scenario", "france-2026", "--seed", "4", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert sum(info["tenant"].values()) == 69_351
    assert set(info["tenant_class"]) == {"academic", "commercial"}
    assert info["mapping"]["seed"] == 4


def test_synth_writes_csv_that_loads_back(tmp_path: Path) -> None:
    out = tmp_path / "syn.csv"
    res = runner.invoke(
        app, ["trace", "synth", "-n", "5000", "--seed", "2", "--horizon-days", "7", "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    mapping = {"id": "job_id", "submit": "submit_s", "duration": "duration_s", "gpus": "gpus", "kind": "kind"}
    back = load_csv(out, mapping, reference_accelerator="A100")
    assert len(back) == info["jobs"] == 5000
    assert round(back.gpu_hours(), 1) == info["gpu_hours"]
    assert back.summary()["kind"] == info["kind"]
    cli = runner.invoke(
        app,
        ["trace", "info", str(out), "--reference-accelerator", "A100", "--json"]
        + [arg for k, c in mapping.items() for arg in ("-c", f"{k}={c}")],
    )
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["reference_gpu_hours"] == info["reference_gpu_hours"]
    again = runner.invoke(
        app,
        ["trace", "synth", "-n", "5000", "--seed", "2", "--horizon-days", "7", "-o", str(tmp_path / "b.csv"), "--json"],
    )
    assert (tmp_path / "b.csv").read_bytes() == out.read_bytes()
    assert again.stdout == res.stdout


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "cluster01.csv"
    bad.write_text("job_id,submission_time,duration,num_gpu\nu1,10,abc,8\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hexagrid.cli.main", "trace", "info", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert (
        lines[0].startswith("hexagrid: error: ") and "line 2: column 'duration' must be a number, got 'abc'" in lines[0]
    )


def test_bench_workloads_reports_figures() -> None:
    res = runner.invoke(app, ["bench", "workloads", "--jobs", "2000", "--json"])
    assert res.exit_code == 0, res.output
    fig = json.loads(res.stdout)
    assert fig["itp_jobs"] == 69_351 and fig["philly_jobs"] == 82_247
    assert fig["scaled_jobs"] == 15 * 69_351
    for key in ("load_itp_s", "map_itp_s", "generate_s", "map_synthetic_s", "jobspecs_synthetic_s", "scale_itp_s"):
        assert fig[key] >= 0


def test_column_option_errors() -> None:
    res = runner.invoke(app, ["trace", "info", "itp", "--time-format", "iso"])
    assert res.exit_code != 0
    assert "apply to a generic CSV" in str(res.exception)


def test_synth_sized_by_load_writes_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "s.parquet"
    res = runner.invoke(
        app, ["trace", "synth", "-n", "20000", "--load", "0.5", "--scenario", "france-2026", "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["fleet_gpus"] == 101_660
    assert 0.3 < info["offered_load"] < 0.7
    table = pq.read_table(out)
    assert table.num_rows == 20000 and {"job_id", "submit_s", "gpus", "kind"} <= set(table.column_names)
    both = runner.invoke(app, ["trace", "synth", "-n", "10", "--load", "0.5", "--horizon-days", "3"])
    assert both.exit_code != 0 and "give one" in str(both.exception)
