"""The packaged 2022 data: same values as the shared CSV, and the annual means of its README."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hexagrid.energy.carbon import BUILTIN, builtin_path, load_carbon, load_wide_csv


def test_builtin_reproduces_readme_annual_means() -> None:
    trace = load_carbon("builtin:2022")
    assert trace.hours == 8760
    assert trace.start.isoformat() == "2022-01-01T00:00:00+00:00"
    means = {s.zone: s.mean for s in trace.stats()}
    # ../shared/data/carbon/README.md: FR 99.4, DE 481.5, PL 819.2, ES 211.5, SE-SE3 23.4, NO-NO1 29.3
    for zone, mean in {"FR": 99.4, "DE": 481.5, "PL": 819.2, "ES": 211.5, "SE-SE3": 23.4, "NO-NO1": 29.3}.items():
        assert round(means[zone], 1) == mean, zone
    fr = next(s for s in trace.stats() if s.zone == "FR")
    assert fr.min == pytest.approx(24.38) and fr.max == pytest.approx(199.45)  # FACTS: 24-199 range
    assert fr.min <= fr.p5 <= fr.median <= fr.p95 <= fr.max


def test_builtin_is_cached_and_read_only() -> None:
    a, b = load_carbon(), load_carbon("builtin:2022")
    assert a is b
    with pytest.raises(ValueError):
        a.values[0, 0] = 1.0


def test_packaged_copy_equals_shared_csv(shared_data: Path) -> None:
    shared = load_wide_csv(shared_data / "carbon" / "grid_carbon_intensity_2022_hourly.csv")
    packed = load_carbon("builtin:2022")
    assert shared.zones == packed.zones
    assert shared.start == packed.start
    assert np.array_equal(shared.values, packed.values)


def test_packaged_files_exist_and_small() -> None:
    for name in BUILTIN:
        p = builtin_path(name)
        assert p.is_file()
    assert builtin_path("2022").stat().st_size < 1_000_000
    assert (builtin_path("2022").parent / "PROVENANCE.md").is_file()
