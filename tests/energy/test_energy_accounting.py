"""Per-job accounting: energy, location-based carbon (partial hours pro rata), heat, cost; aggregation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.energy.accounting import (
    account_job,
    account_jobs,
    aggregate_usage,
    heat_reused_mwh,
    intensity_integral,
    site_draw_w,
)
from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.errors import InputError

H = 3600.0
T0 = datetime(2022, 1, 1, tzinfo=UTC)


def _trace() -> CarbonTrace:
    return CarbonTrace(("FR", "DE"), T0, np.array([[10.0, 20.0, 30.0, 40.0], [100.0, 200.0, 300.0, 400.0]]))


def test_one_job_by_hand() -> None:
    tr = _trace()
    s0 = tr.start_s
    # 10 kW IT, PUE 1.2, from 00:30 to 02:15: 0.5 h at 10 g, 1 h at 20 g, 0.25 h at 30 g
    u = account_job(
        it_power_w=10_000,
        pue=1.2,
        start_s=s0 + 0.5 * H,
        end_s=s0 + 2.25 * H,
        zone="FR",
        carbon=tr,
        gpus=8,
        price_eur_per_gpu_h=2.0,
        heat_reuse_fraction=0.5,
        energy_price_eur_per_mwh=80.0,
    )
    assert u.gpu_hours == pytest.approx(14.0)
    assert u.it_kwh == pytest.approx(17.5)
    assert u.facility_kwh == pytest.approx(21.0)
    assert u.carbon_g == pytest.approx(12.0 * (0.5 * 10 + 1 * 20 + 0.25 * 30))
    assert u.heat_reused_kwh == pytest.approx(8.75) and u.heat_reused_mwh == pytest.approx(0.00875)
    assert u.gpu_cost_eur == pytest.approx(28.0)
    assert u.energy_cost_eur == pytest.approx(21.0 / 1000 * 80)
    assert u.cost_eur == pytest.approx(28.0 + 1.68)
    assert u.mean_intensity_g_per_kwh == pytest.approx(u.carbon_g / 21.0)
    # a site that does not pay its own power: no energy cost
    v = account_job(it_power_w=10_000, pue=1.2, start_s=s0, end_s=s0 + H, zone="DE", carbon=tr, gpus=8)
    assert v.energy_cost_eur == 0 and v.cost_eur == 0 and v.carbon_g == pytest.approx(12.0 * 100)


def test_wrap_around_adds_whole_passes() -> None:
    tr = _trace()
    s0 = tr.start_s
    u = account_job(it_power_w=1000, pue=1.0, start_s=s0 + 3 * H, end_s=s0 + 13 * H, zone="FR", carbon=tr, gpus=1)
    # data hour 3 (40), then hours 4..11 are two full passes (100 each), then hour 12 is hour 0 again (10)
    assert u.carbon_g == pytest.approx(40 + 100 + 100 + 10)
    assert intensity_integral(tr, [0], [-1.0], [0.0])[0] == pytest.approx(40.0)  # before the start: the last hour


def test_calendar_maps_other_years() -> None:
    tr = _trace()
    cal = CalendarMapping.for_trace(tr, datetime(2026, 1, 1, 2, tzinfo=UTC))
    s = datetime(2026, 1, 1, 2, tzinfo=UTC).timestamp()
    u = account_job(it_power_w=1000, pue=1.0, start_s=s, end_s=s + H, zone="FR", carbon=tr, calendar=cal, gpus=1)
    assert u.carbon_g == pytest.approx(30.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-30, 60), st.floats(0, 30), st.floats(0, 5000), st.integers(0, 1)), min_size=1, max_size=20
    )
)
def test_vectorised_equals_hour_by_hour_integration(jobs: list[tuple[float, float, float, int]]) -> None:
    tr = _trace()
    s0 = tr.start_s
    start = np.array([s0 + a * H for a, _, _, _ in jobs])
    end = start + np.array([d * H for _, d, _, _ in jobs])
    power = np.array([p for _, _, p, _ in jobs])
    zone = np.array([z for _, _, _, z in jobs])
    u = account_jobs(it_power_w=power, pue=1.3, start_s=start, end_s=end, zone_index=zone, carbon=tr, gpus=4)
    for i, (a, d, p, z) in enumerate(jobs):
        # brute force: walk hour boundaries
        x, x1, acc = a, a + d, 0.0
        while x < x1 - 1e-12:
            nxt = min(np.floor(x) + 1, x1)
            acc += (nxt - x) * tr.values[z, int(np.floor(x)) % tr.hours]
            x = nxt
        assert u.carbon_g[i] == pytest.approx(p * 1.3 / 1000 * acc, rel=1e-9, abs=1e-6)
    assert u.total().carbon_g == pytest.approx(float(u.carbon_g.sum()))


def test_aggregate_per_key_and_site_draw() -> None:
    tr = _trace()
    s0 = tr.start_s
    u = account_jobs(
        it_power_w=[1000, 2000, 3000],
        pue=[1.1, 1.2, 1.3],
        start_s=s0,
        end_s=s0 + 2 * H,
        zone_index=[0, 1, 0],
        carbon=tr,
        gpus=[1, 2, 3],
        price_eur_per_gpu_h=[1, 1, 2],
        heat_reuse_fraction=[0.5, 0, 0.5],
        energy_price_eur_per_mwh=[np.nan, 50, np.nan],
    )
    agg = aggregate_usage(["jz", "sc", "jz"], u)
    assert list(agg) == ["jz", "sc"]
    assert agg["jz"].it_kwh == pytest.approx(2 + 6)
    assert agg["jz"].heat_reused_kwh == pytest.approx(4.0)
    assert agg["sc"].energy_cost_eur == pytest.approx(4.8 / 1000 * 50)
    assert agg["jz"].gpu_cost_eur == pytest.approx(2 + 12)
    assert sum(a.carbon_g for a in agg.values()) == pytest.approx(u.total().carbon_g)
    assert (
        aggregate_usage(
            [],
            account_jobs(
                it_power_w=np.zeros(0),
                pue=1.0,
                start_s=np.zeros(0),
                end_s=np.zeros(0),
                zone_index=np.zeros(0, dtype=int),
                carbon=tr,
                gpus=np.zeros(0),
            ),
        )
        == {}
    )
    with pytest.raises(InputError, match="one key per job"):
        aggregate_usage(["a"], u)
    assert site_draw_w([0, 2, 0], [100.0, 50.0, 25.0], 3).tolist() == [125.0, 0.0, 50.0]
    with pytest.raises(InputError, match="site_index must be in"):
        site_draw_w([3], [1.0], 3)
    assert heat_reused_mwh(4000.0, 0.25) == pytest.approx(1.0)


def test_bad_input_is_rejected() -> None:
    tr = _trace()
    with pytest.raises(InputError, match=r"job 1: end_s \(0.0\) is before start_s \(5.0\)"):
        account_jobs(it_power_w=1, pue=1, start_s=[0.0, 5.0], end_s=[1.0, 0.0], zone_index=0, carbon=tr, gpus=1)
    with pytest.raises(InputError, match="pue >= 1"):
        account_jobs(it_power_w=1, pue=0.5, start_s=0, end_s=1, zone_index=0, carbon=tr, gpus=1)
    with pytest.raises(InputError, match="zone_index must be in"):
        account_jobs(it_power_w=1, pue=1, start_s=0, end_s=1, zone_index=5, carbon=tr, gpus=1)
