"""The trace loaders reproduce the trace READMEs' counts exactly, from the packaged copies and the originals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hexagrid.workloads import builtin_trace_path, load_itp, load_philly, load_trace

REPO = Path(__file__).resolve().parents[2]

# From ../shared/data/traces/README.md
ITP_JOBS = 69_351
ITP_GPU_HOURS = 1_632_719.7
ITP_HISTOGRAM = {1: 57_682, 2: 1_483, 4: 2_371, 8: 7_009, 16: 381, 32: 354, 64: 71}
PHILLY_JOBS = 82_247
PHILLY_HISTOGRAM_HEAD = {1: 76_627, 2: 1_818, 4: 1_870, 8: 1_643}
PHILLY_MEDIAN_DURATION_S = 1_144.0


def check_itp(table) -> None:
    assert len(table) == ITP_JOBS
    assert round(table.gpu_hours(), 1) == ITP_GPU_HOURS
    assert table.gpu_histogram() == ITP_HISTOGRAM
    assert len(table.clusters) == 10
    assert len(set(table.job_id.tolist())) == ITP_JOBS
    assert (np.diff(table.submit_s) >= 0).all()
    assert table.summary()["first_submit_utc"].startswith("2021-03-04")


def check_philly(table) -> None:
    assert len(table) == PHILLY_JOBS
    hist = table.gpu_histogram()
    assert {k: hist[k] for k in PHILLY_HISTOGRAM_HEAD} == PHILLY_HISTOGRAM_HEAD
    assert max(hist) == 128
    assert float(np.median(table.duration_s)) == PHILLY_MEDIAN_DURATION_S
    assert len(table.clusters) == 15
    assert table.submit_s[0] == 0.0
    # 2017-09-04 .. 2017-12-22
    assert 108 < table.span_s() / 86400 < 109
    summary = table.summary()
    assert summary["first_submit_utc"].startswith("2017-09-04")
    assert summary["last_submit_utc"].startswith("2017-12-22")


@pytest.mark.parametrize("name", ["itp", "microsoft-itp-2021"])
def test_packaged_itp_counts(name: str) -> None:
    check_itp(load_trace(name))


@pytest.mark.parametrize("name", ["philly", "microsoft-philly-2017"])
def test_packaged_philly_counts(name: str) -> None:
    check_philly(load_trace(name))


def test_packaged_files_are_small_and_licensed() -> None:
    folder = builtin_trace_path("itp").parent
    for f in ("microsoft-itp-2021.csv.gz", "microsoft-philly-2017.csv.gz"):
        assert (folder / f).stat().st_size < 1_000_000
    assert "MIT License" in (folder / "LICENSE-itp").read_text()
    assert "Apache License" in (folder / "LICENSE-philly").read_text()
    assert "package_traces.py" in (folder / "PROVENANCE.md").read_text()


def test_shared_originals_counts_and_equal_packaged(shared_data: Path) -> None:
    itp = load_itp(shared_data / "traces" / "microsoft-itp-2021")
    philly = load_philly(shared_data / "traces" / "microsoft-philly-2017" / "philly.csv")
    check_itp(itp)
    check_philly(philly)
    for original, packaged in ((itp, load_trace("itp")), (philly, load_trace("philly"))):
        assert original.digest() == packaged.digest()


def test_single_itp_cluster_file(shared_data: Path) -> None:
    t = load_trace(shared_data / "traces" / "microsoft-itp-2021" / "cluster10.csv")
    assert len(t) == 260
    assert t.clusters == ("cluster10",)
    assert t.job_id[0].startswith("itp-c10-")


def test_packaging_script_is_reproducible(shared_data: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("package_traces", REPO / "scripts" / "package_traces.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--src", str(shared_data / "traces"), "--dst", str(tmp_path)]) == 0
    folder = builtin_trace_path("itp").parent
    for f in ("microsoft-itp-2021.csv.gz", "microsoft-philly-2017.csv.gz", "PROVENANCE.md"):
        assert (tmp_path / f).read_bytes() == (folder / f).read_bytes(), f
