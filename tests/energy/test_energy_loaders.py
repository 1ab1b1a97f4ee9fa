"""Carbon loaders: wide, long and RTE eCO2mix in the forms RTE publishes; gaps, errors, resampling."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.energy.carbon import (
    CarbonTrace,
    builtin_path,
    load_carbon,
    load_eco2mix,
    load_long_csv,
    load_wide_csv,
    parse_carbon_text,
)
from hexagrid.errors import DataError, NotFound

WIDE = """timestamp_utc,FR,DE
2022-01-01T00:00Z,50.5,216.56
2022-01-01T01:00Z,52.46,220.88
2022-01-01T02:00Z,40,200
"""


def test_wide_csv(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    p.write_text(WIDE)
    t = load_wide_csv(p)
    assert t.zones == ("FR", "DE") and t.hours == 3
    assert t.start.isoformat() == "2022-01-01T00:00:00+00:00"
    assert np.array_equal(t.series("DE"), [216.56, 220.88, 200.0])
    # detection picks the same format
    assert np.array_equal(load_carbon(p).values, t.values)


def test_compressed_files_are_read(tmp_path: Path) -> None:
    p = tmp_path / "w.csv.gz"
    p.write_bytes(gzip.compress(WIDE.encode()))
    assert load_carbon(p).hours == 3


def test_long_csv_any_column_order(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text(
        "timestamp,zone,gco2_per_kwh\n"
        "2022-01-01T01:00Z,FR,52\n2022-01-01T00:00Z,FR,50\n"
        "2022-01-01T00:00Z,DE,216\n2022-01-01T01:00Z,DE,220\n"
    )
    t = load_long_csv(p)
    assert t.zones == ("FR", "DE")
    assert np.array_equal(t.values, [[50, 52], [216, 220]])
    assert load_carbon(p).zones == ("FR", "DE")


def test_subhourly_rows_average_to_hourly() -> None:
    text = "timestamp,FR\n" + "".join(
        f"2022-01-01T00:{m:02d}Z,{v}\n" for m, v in zip((0, 15, 30, 45), (10, 20, 30, 40), strict=True)
    )
    text += "2022-01-01T01:00Z,7\n"
    t = parse_carbon_text(text, "mem")
    assert np.array_equal(t.series("FR"), [25.0, 7.0])


def test_gap_names_first_missing_hour_and_fill_options() -> None:
    text = "timestamp,FR\n2022-01-01T00:00Z,10\n2022-01-01T03:00Z,40\n"
    with pytest.raises(DataError, match=r"mem: no value for hour 2022-01-01T01:00Z \(2 hour\(s\) missing\)"):
        parse_carbon_text(text, "mem")
    assert np.array_equal(parse_carbon_text(text, "mem", fill="previous").series("FR"), [10, 10, 10, 40])
    assert np.array_equal(parse_carbon_text(text, "mem", fill="linear").series("FR"), [10, 20, 30, 40])


def test_long_zone_with_shorter_span_is_a_gap() -> None:
    text = "zone,timestamp,gco2_per_kwh\nFR,2022-01-01T00:00Z,1\nFR,2022-01-01T01:00Z,2\nDE,2022-01-01T00:00Z,3\n"
    with pytest.raises(DataError, match="zone DE: no value for hour 2022-01-01T01:00Z"):
        parse_carbon_text(text, "mem")


def test_errors_name_file_line_column_and_value(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("timestamp,FR,DE\n2022-01-01T00:00Z,1,2\n2022-01-01T01:00Z,x,2\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3 column 'FR': expected a number in gCO2eq/kWh, got 'x'"):
        load_carbon(p)
    p.write_text("timestamp,FR\nyesterday,1\n")
    with pytest.raises(DataError, match=r"line 2 column 'timestamp': cannot read 'yesterday' as an ISO 8601 time"):
        load_carbon(p)
    p.write_text("timestamp,FR\n2022-01-01T00:00Z,-4\n")
    with pytest.raises(DataError, match=r"line 2 column 'FR': intensity must be >= 0, got '-4'"):
        load_carbon(p)
    p.write_text("timestamp,FR\n2022-01-01T01:00Z,1\n2022-01-01T00:00Z,1\n")
    with pytest.raises(DataError, match="line 3 goes back in time"):
        load_carbon(p)
    p.write_text("timestamp,FR\n2022-01-01T00:00Z,1,5\n")
    with pytest.raises(DataError, match="line 2 has 3 fields, the header has 2"):
        load_carbon(p)
    with pytest.raises(NotFound, match="does not exist"):
        load_carbon(tmp_path / "nope.csv")
    with pytest.raises(NotFound, match="built-ins: builtin:2022"):
        load_carbon("builtin:1999")


def test_unknown_zone_lists_zones() -> None:
    t = parse_carbon_text(WIDE, "mem")
    with pytest.raises(NotFound, match=r"zone 'XX' is not in mem; zones: FR, DE"):
        t.series("XX")


def test_eco2mix_sample_as_published() -> None:
    t = load_eco2mix(builtin_path("eco2mix-sample"))
    assert t.zones == ("FR",)
    # 2025-07-01 00:00 in Paris (summer time, UTC+2) is 2025-06-30 22:00 UTC; 96 quarter-hours -> 24 hours
    assert t.start.isoformat() == "2025-06-30T22:00:00+00:00"
    assert t.hours == 24
    fr = t.series("FR")
    assert fr[0] == pytest.approx((47 + 46 + 46 + 44) / 4)  # the first four 'Taux de Co2' rows
    assert fr.min() >= 18 and fr.max() <= 57  # README: 18 to 57 g over the day


def _rte_form(sample: str, sep: str) -> str:
    """The sample rewritten the way RTE's own downloads look: accented headers, another separator, a disclaimer."""
    lines = sample.splitlines()
    header = lines[0].replace("Perimetre", "Périmètre").replace("Nature", "Nature")
    rows = [ln.replace("Donnees temps reel", "Données temps réel") for ln in lines[1:]]
    body = [header, *rows]
    # half of the quarter-hours without a value, as in consolidated files; a future quarter-hour empty
    out = [r.split(",") for r in body]
    co2 = out[0].index("Taux de Co2")
    for r in out[2::2]:
        r[co2] = ""
    out.append(["France", "Données temps réel", "2025-07-02", "00:00"] + [""] * (len(out[0]) - 4))
    text = "\n".join(sep.join(r) for r in out)
    return (
        text
        + "\nRTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données mises à disposition\n"
    )


@pytest.mark.parametrize(("sep", "encoding"), [("\t", "latin-1"), (";", "utf-8"), (",", "utf-8-sig")])
def test_eco2mix_rte_download_forms(tmp_path: Path, sep: str, encoding: str) -> None:
    sample = builtin_path("eco2mix-sample").read_text()
    p = tmp_path / "eCO2mix_RTE_En-cours-TR.xls"
    p.write_bytes(_rte_form(sample, sep).encode(encoding))
    t = load_carbon(p)
    assert t.zones == ("FR",) and t.hours == 24
    ref = load_eco2mix(builtin_path("eco2mix-sample")).series("FR")
    # every hour keeps the quarter-hours at :00 and :30 (the others were blanked), so values differ slightly
    assert np.all(np.abs(t.series("FR") - ref) < 6)


def test_eco2mix_french_dates_and_decimal_comma(tmp_path: Path) -> None:
    text = "Périmètre;Nature;Date;Heures;Taux de CO2\nFrance;Données définitives;01/07/2025;00:00;47,5\nFrance;x;01/07/2025;00:30;48,5\n"
    p = tmp_path / "e.csv"
    p.write_bytes(text.encode("latin-1"))
    t = load_carbon(p)
    assert t.start.isoformat() == "2025-06-30T22:00:00+00:00"
    assert t.series("FR").tolist() == [48.0]


def test_eco2mix_autumn_dst_fold_becomes_two_utc_hours() -> None:
    # 2025-10-26: Paris goes from UTC+2 to UTC+1 at 03:00 local; 02:00-02:45 appear twice
    rows = ["Perimetre,Nature,Date,Heures,Taux de Co2"]
    wall = [
        "01:00",
        "01:15",
        "01:30",
        "01:45",
        "02:00",
        "02:15",
        "02:30",
        "02:45",
        "02:00",
        "02:15",
        "02:30",
        "02:45",
        "03:00",
        "03:15",
        "03:30",
        "03:45",
    ]
    for i, w in enumerate(wall):
        rows.append(f"France,x,2025-10-26,{w},{10 * (i // 4 + 1)}")
    t = parse_carbon_text("\n".join(rows), "fold")
    assert t.start.isoformat() == "2025-10-25T23:00:00+00:00"
    assert t.series("FR").tolist() == [10.0, 20.0, 30.0, 40.0]


def test_eco2mix_missing_column_named(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("Perimetre,Nature,Date,Heures,Consommation\nFrance,x,2025-07-01,00:00,1\n")
    with pytest.raises(
        DataError, match=r"needs columns Taux de Co2 and either Date and Heures or 'Date - Heure'; missing Taux de Co2"
    ):
        load_eco2mix(p)


def test_trace_validates_its_array() -> None:
    from datetime import UTC, datetime

    from hexagrid.errors import InputError

    with pytest.raises(InputError, match="start must be on a whole hour"):
        CarbonTrace(("FR",), datetime(2022, 1, 1, 0, 30, tzinfo=UTC), np.ones((1, 3)))
    with pytest.raises(DataError, match="zone FR hour 1: intensity must be a finite value >= 0"):
        CarbonTrace(("FR",), datetime(2022, 1, 1, tzinfo=UTC), np.array([[1.0, np.nan]]))


def test_eco2mix_fold_listed_once_is_interpolated_not_a_gap() -> None:
    # an export that lists 02:00-02:45 only once on 2025-10-26 leaves 01:00Z empty: interpolated, not an error
    rows = ["Perimetre,Nature,Date,Heures,Taux de Co2"]
    wall = [f"{h:02d}:{m:02d}" for h in range(0, 5) for m in (0, 15, 30, 45)]
    for w in wall:
        rows.append(f"France,x,2025-10-26,{w},{10 * (int(w[:2]) + 1)}")
    t = parse_carbon_text("\n".join(rows), "fold-once")
    # 00:xx CEST -> 22Z, 01:xx -> 23Z, 02:xx (first pass) -> 00Z, [01Z missing], 03:xx CET -> 02Z, 04:xx -> 03Z
    assert t.start.isoformat() == "2025-10-25T22:00:00+00:00"
    assert t.series("FR").tolist() == [10.0, 20.0, 30.0, 35.0, 40.0, 50.0]
    # any other missing hour is still an error
    rows2 = [r for r in rows if ",04:" not in r and ",03:" not in r] + ["France,x,2025-10-26,05:00,60"]
    with pytest.raises(DataError, match="no value for hour 2025-10-26T02:00Z"):
        parse_carbon_text("\n".join(rows2), "gap")


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
    st.sampled_from([",", ";", "\t"]),
)
def test_wide_and_long_round_trip(n_zones: int, n_hours: int, seed: int, sep: str) -> None:
    from datetime import UTC, datetime, timedelta

    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 900, (n_zones, n_hours)).round(2)
    zones = [f"Z{i}" for i in range(n_zones)]
    t0 = datetime(2023, 3, 25, tzinfo=UTC) + timedelta(hours=int(rng.integers(0, 100)))
    times = [(t0 + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%MZ") for h in range(n_hours)]
    wide = (
        sep.join(["timestamp", *zones])
        + "\n"
        + "".join(
            sep.join([times[h], *(repr(float(values[z, h])) for z in range(n_zones))]) + "\n" for h in range(n_hours)
        )
    )
    t = parse_carbon_text(wide, "wide")
    assert t.zones == tuple(zones) and t.start == t0 and np.array_equal(t.values, values)
    rows = [f"{zones[z]}{sep}{times[h]}{sep}{float(values[z, h])!r}" for z in range(n_zones) for h in range(n_hours)]
    order = rng.permutation(len(rows))
    long = sep.join(["zone", "timestamp", "gco2_per_kwh"]) + "\n" + "\n".join(rows[i] for i in order) + "\n"
    t2 = parse_carbon_text(long, "long")
    assert sorted(t2.zones) == sorted(zones)
    assert np.array_equal(t2.select(zones).values, values)


def test_eco2mix_odre_open_data_form() -> None:
    # the ODRÉ portal's export: semicolons, 'Heure', 'Date - Heure' with its offset, 'Taux de CO2 (g/kWh)'
    text = (
        "Périmètre;Nature;Date;Heure;Date - Heure;Consommation (MW);Taux de CO2 (g/kWh)\n"
        "France;Données temps réel;2025-07-01;00:00;2025-07-01T00:00:00+02:00;47961;47\n"
        "France;Données temps réel;2025-07-01;00:15;2025-07-01T00:15:00+02:00;47649;46\n"
        "France;Données temps réel;2025-07-01;00:30;2025-07-01T00:30:00+02:00;45884;\n"
        "France;Données temps réel;2025-07-01;01:00;2025-07-01T01:00:00+02:00;45000;40\n"
    )
    t = parse_carbon_text(text, "odre")
    assert t.zones == ("FR",) and t.start.isoformat() == "2025-06-30T22:00:00+00:00"
    assert t.series("FR").tolist() == [46.5, 40.0]
