"""Forecasters: the CarbonSignals protocol over real data; perfect, persistence and seeded noisy forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from hexagrid.domain.signals import CarbonSignals
from hexagrid.energy.carbon import load_carbon
from hexagrid.energy.forecast import NoisyForecast, PerfectForecast, PersistenceForecast, make_signals
from hexagrid.errors import InputError, NotFound

H = 3600.0


@pytest.fixture(scope="module")
def trace():  # type: ignore[no-untyped-def]
    return load_carbon()


def test_all_implement_the_protocol(trace) -> None:  # type: ignore[no-untyped-def]
    for kind in ("perfect", "persistence", "noisy"):
        s = make_signals(kind, trace)  # type: ignore[arg-type]
        assert isinstance(s, CarbonSignals)
        assert s.zones() == frozenset(trace.zones)
    with pytest.raises(InputError, match="forecast must be perfect, persistence or noisy"):
        make_signals("magic", trace)  # type: ignore[arg-type]


def test_perfect_is_the_truth_including_wrap(trace) -> None:  # type: ignore[no-untyped-def]
    p = PerfectForecast(trace)
    de = trace.series("DE")
    t = trace.start_s + 100 * H + 123
    assert np.array_equal(p.forecast_g_per_kwh("DE", t, 48), de[100:148])
    assert p.intensity_g_per_kwh("DE", t) == de[100]
    end = trace.start_s + 8750 * H
    assert np.array_equal(p.forecast_g_per_kwh("DE", end, 20), np.concatenate([de[8750:], de[:10]]))
    assert p.wrapped_queries >= 1
    long = p.forecast_g_per_kwh("DE", t, 24 * 400)  # longer than the padded horizon: still right
    assert np.array_equal(long, np.take(de, np.arange(100, 100 + 24 * 400), mode="wrap"))
    with pytest.raises(NotFound):
        p.forecast_g_per_kwh("XX", t, 2)


def test_persistence_is_same_hour_day_before_then_repeats(trace) -> None:  # type: ignore[no-untyped-def]
    s = PersistenceForecast(trace)
    fr = trace.series("FR")
    for h0 in (0, 5, 30, 4000, 8759):
        f = s.forecast_g_per_kwh("FR", trace.start_s + h0 * H, 60)
        assert f[0] == fr[h0]
        for k in range(1, 60):
            lag = 24 * -(-k // 24)
            assert f[k] == fr[(h0 + k - lag) % trace.hours], (h0, k)
    assert s.forecast_g_per_kwh("FR", trace.start_s, 0).shape == (0,)


def test_noisy_is_deterministic_unbiased_and_has_the_given_mape(trace) -> None:  # type: ignore[no-untyped-def]
    a = NoisyForecast(trace, mape=0.15, seed=7)
    b = NoisyForecast(trace, mape=0.15, seed=7)
    c = NoisyForecast(trace, mape=0.15, seed=8)
    t = trace.start_s + 2000 * H + 5
    fa = a.forecast_g_per_kwh("FR", t, 48)
    assert np.array_equal(fa, b.forecast_g_per_kwh("FR", t, 48))
    assert np.array_equal(fa, a.forecast_g_per_kwh("FR", t, 48))  # repeated call agrees
    assert np.array_equal(fa[:12], a.forecast_g_per_kwh("FR", t + 600, 12))  # same issued hour, shorter
    assert not np.array_equal(fa, c.forecast_g_per_kwh("FR", t, 48))
    assert fa[0] == trace.series("FR")[2000]  # the hour in force is known
    errs = []
    for h in range(0, 8000, 7):
        truth = trace.series("DE")[h + 1 : h + 25]
        f = a.forecast_g_per_kwh("DE", trace.start_s + h * H, 25)[1:]
        errs.append(np.abs(f - truth) / truth)
    mape = float(np.mean(errs))
    assert 0.13 < mape < 0.17
    assert np.all(a.forecast_g_per_kwh("DE", t, 100) >= 0)
    with pytest.raises(InputError, match="mape must be a fraction"):
        NoisyForecast(trace, mape=15)


def test_zero_mape_is_perfect(trace) -> None:  # type: ignore[no-untyped-def]
    n, p = NoisyForecast(trace, mape=0.0, seed=1), PerfectForecast(trace)
    t = trace.start_s + 77 * H
    assert np.array_equal(n.forecast_g_per_kwh("PL", t, 30), p.forecast_g_per_kwh("PL", t, 30))


def test_forecast_mape(trace) -> None:  # type: ignore[no-untyped-def]
    from hexagrid.energy.forecast import forecast_mape

    assert forecast_mape(PerfectForecast(trace), "FR", 24, every_h=24) == 0.0
    noisy = forecast_mape(NoisyForecast(trace, mape=0.2, seed=1), "DE", 24, every_h=6)
    assert 0.18 < noisy < 0.22
    pers = forecast_mape(PersistenceForecast(trace), "FR", 24, every_h=6)
    # brute force on a few issued hours: |x[h + k - 24] - x[h + k]| / x[h + k]
    fr = trace.series("FR")
    issued = np.arange(24, trace.hours - 24 + 1, 6)
    errs = [abs(fr[h + k - 24] - fr[h + k]) / fr[h + k] for h in issued for k in range(1, 24)]
    assert pers == pytest.approx(float(np.mean(errs)))
    with pytest.raises(InputError, match="horizon_h must be >= 2"):
        forecast_mape(PerfectForecast(trace), "FR", 1)


def test_noisy_errors_follow_the_zone_name_not_its_row(trace) -> None:  # type: ignore[no-untyped-def]
    t = trace.start_s + 500 * H
    full = NoisyForecast(trace, mape=0.1, seed=3).forecast_g_per_kwh("DE", t, 24)
    sub = NoisyForecast(trace.select(["PL", "DE"]), mape=0.1, seed=3).forecast_g_per_kwh("DE", t, 24)
    assert np.array_equal(full, sub)
