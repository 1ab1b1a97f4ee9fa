"""`hexagrid simulate` end to end on a small slice of the real ITP trace: zero violations, the --json keys,
byte-identical outputs for the same seed, a self-contained report, and one-line errors for bad names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hexagrid.cli.main import main

KEYS = {
    "jobs",
    "completed",
    "constraint_violations",
    "utilisation",
    "mean_wait_s",
    "p99_wait_s",
    "energy_mwh",
    "tco2",
    "cost_eur",
    "heat_reused_mwh",
    "deadline_misses",
}
ARGS = ["simulate", "--max-jobs", "250", "--policy", "fifo", "--policy", "hexagrid", "--seed", "3"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["hexagrid", *argv]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    from typer.testing import CliRunner

    from hexagrid.cli.main import app

    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    runner = CliRunner()
    ra = runner.invoke(app, [*ARGS, "--out", str(a), "--json", "--workers", "1"])
    assert ra.exit_code == 0, ra.output
    rb = runner.invoke(app, [*ARGS, "--out", str(b), "--workers", "2"])  # parallel: the same bytes
    assert rb.exit_code == 0, rb.output
    return a, b, json.loads(ra.stdout)


def test_json_summary_has_the_contract_keys_and_no_violations(two_runs: tuple[Path, Path, dict]) -> None:
    _, _, summary = two_runs
    assert set(summary["policies"]) == {"fifo", "hexagrid"}
    for name, pol in summary["policies"].items():
        assert set(pol) >= KEYS, name
        assert pol["jobs"] == 250
        assert pol["constraint_violations"] == 0, pol["violation_examples"]
        assert pol["completed"] == 250
        assert 0 < pol["utilisation"] < 1
        assert pol["energy_mwh"] > 0 and pol["tco2"] > 0 and pol["cost_eur"] > 0
    assert "replays carbon data" in summary["carbon"]["mapping"]


def test_same_seed_gives_byte_identical_outputs(two_runs: tuple[Path, Path, dict]) -> None:
    a, b, _ = two_runs
    names = sorted(p.name for p in a.iterdir())
    assert names == [
        "jobs-fifo.parquet",
        "jobs-hexagrid.parquet",
        "report.html",
        "sites-fifo.parquet",
        "sites-hexagrid.parquet",
        "summary.json",
    ]
    assert names == sorted(p.name for p in b.iterdir())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


def test_per_job_table_matches_summary(two_runs: tuple[Path, Path, dict]) -> None:
    a, _, summary = two_runs
    t = pq.read_table(a / "jobs-hexagrid.parquet").to_pydict()
    pol = summary["policies"]["hexagrid"]
    assert len(t["job_id"]) == 250 and len(set(t["job_id"])) == 250
    assert sum(t["carbon_g"]) / 1e6 == pytest.approx(pol["tco2"], rel=1e-5)
    assert sum(t["energy_kwh"]) / 1e3 == pytest.approx(pol["energy_mwh"], rel=1e-5)
    assert all(w >= 0 for w in t["wait_s"])
    assert all(s for s in t["site"])  # every job ran somewhere
    sites = pq.read_table(a / "sites-hexagrid.parquet").to_pydict()
    assert sum(sites["busy_gpus"]) == pytest.approx(pol["gpu_hours"], rel=1e-6)  # hourly means x 1 h


def test_report_is_self_contained(two_runs: tuple[Path, Path, dict]) -> None:
    a, _, _ = two_runs
    html = (a / "report.html").read_text()
    assert "http" not in html and "<script" not in html and "<link" not in html
    assert html.count("<svg") == 6
    for title in (
        "Policies side by side",
        "Utilisation per site",
        "against its envelope",
        "Queue length",
        "Carbon intensity against load",
        "Wait CDF",
        "Where the sites are",
    ):
        assert title in html


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "--scenario", "atlantis"], "france-2026"),
        (["simulate", "--trace", "nosuchtrace"], "itp"),
        (["simulate", "--policy", "greedy"], "fifo, backfill, hexagrid"),
        (["simulate", "--forecast", "crystal-ball"], "perfect, persistence, noisy"),
        (["bench", "simulate", "--only", "moon"], "itp, national or both"),
    ],
)
def test_bad_names_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, err = run_cli([*argv, "--out", str(tmp_path)] if argv[0] == "simulate" else argv, capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hexagrid: error:"), err
    assert needle in lines[0]


def test_bench_simulate_prints_a_table_of_the_run_and_json_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli(["bench", "simulate", "--only", "national", "--national-jobs", "1500"], capsys)
    assert code == 0
    for figure in ("jobs", "wall s", "events / s", "jobs / s", "constraint violations", "peak RSS", "build: "):
        assert figure in out
    assert "1,500" in out and "ITP" not in out
    code, out, _err = run_cli(["bench", "simulate", "--only", "national", "--national-jobs", "1500", "--json"], capsys)
    assert code == 0
    r = json.loads(out)
    assert r["national_jobs"] == 1500 and r["national_violations"] == 0 and "itp_wall_s" not in r
    assert r["national_gpus"] > 1_000_000 and r["peak_rss_mb"] > 0
    assert isinstance(r["compiled"], bool)
