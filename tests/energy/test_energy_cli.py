"""``hexagrid carbon``: zones, show and potential, including the one-line error for a bad zone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hexagrid.cli.main import app
from hexagrid.energy.carbon import builtin_path

runner = CliRunner()


def test_zones_json_and_table() -> None:
    r = runner.invoke(app, ["carbon", "zones", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["hours"] == 8760
    fr = next(z for z in doc["zones"] if z["zone"] == "FR")
    assert round(fr["mean"], 1) == 99.4 and fr["min"] == 24.38
    r = runner.invoke(app, ["carbon", "zones"])
    assert r.exit_code == 0 and "FR" in r.output and "median" in r.output


def test_zones_on_eco2mix_sample() -> None:
    r = runner.invoke(app, ["carbon", "zones", "--json", "--data", str(builtin_path("eco2mix-sample"))])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["zones"][0]["zone"] == "FR"


def test_potential_json_keys_and_all() -> None:
    r = runner.invoke(
        app, ["carbon", "potential", "--zone", "FR", "--job-hours", "24", "--slack-hours", "24", "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert set(doc) == {"zone", "job_hours", "slack_hours", "noninterruptible_pct", "interruptible_pct"}
    assert doc["zone"] == "FR" and doc["interruptible_pct"] > doc["noninterruptible_pct"] > 0
    r = runner.invoke(
        app, ["carbon", "potential", "--zone", "all", "--job-hours", "1", "--slack-hours", "24", "--json"]
    )
    docs = json.loads(r.output)
    assert len(docs) > 30 and {d["zone"] for d in docs} >= {"FR", "DE", "GB"}
    r = runner.invoke(app, ["carbon", "potential", "--zone", "all", "--job-hours", "1", "--slack-hours", "0"])
    assert r.exit_code == 0 and "0.00" in r.output


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_show_writes_a_plot(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"fr{suffix}"
    r = runner.invoke(
        app, ["carbon", "show", "--zone", "FR,DE", "--from", "2022-03-01", "--to", "2022-03-02", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "(48 hours, zones FR, DE)" in " ".join(r.output.split())
    data = out.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        text = data.decode()
        assert "data:image/png;base64," in text and "http" not in text.replace("http-equiv", "")


def test_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "hexagrid.cli.main",
        "carbon",
        "potential",
        "--zone",
        "XX",
        "--job-hours",
        "1",
        "--slack-hours",
        "2",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hexagrid: error: zone 'XX' is not in builtin:2022; zones: FR, DE")
    assert "Traceback" not in p.stderr
    r = runner.invoke(
        app,
        [
            "carbon",
            "show",
            "--zone",
            "FR",
            "--from",
            "2023-01-01",
            "--to",
            "2023-01-02",
            "--out",
            str(tmp_path / "x.png"),
        ],
    )
    assert r.exit_code != 0 and "outside builtin:2022, which covers 2022-01-01 to 2022-12-31" in str(r.exception)
    r = runner.invoke(
        app,
        [
            "carbon",
            "show",
            "--zone",
            "FR",
            "--from",
            "2022-01-01",
            "--to",
            "2022-01-02",
            "--out",
            str(tmp_path / "x.pdf"),
        ],
    )
    assert "must end in .png, .svg or .html" in str(r.exception)


def test_forecast_command() -> None:
    r = runner.invoke(app, ["carbon", "forecast", "--zone", "FR", "--kind", "persistence", "--every", "24", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["zone"] == "FR" and doc["kind"] == "persistence" and 5 < doc["mape_pct"] < 40
    r = runner.invoke(app, ["carbon", "forecast", "--zone", "FR", "--kind", "perfect", "--every", "48"])
    assert r.exit_code == 0 and "0.0" in r.output
    r = runner.invoke(app, ["carbon", "forecast", "--kind", "magic"])
    assert "--kind must be perfect, persistence or noisy, got 'magic'" in str(r.exception)
