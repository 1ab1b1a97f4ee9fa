"""Grid carbon intensity: one in-memory form (:class:`CarbonTrace`) and loaders for the formats people have.

A trace is hourly gCO2eq/kWh per zone as a ``[zones x hours]`` float64 array with the UTC start of hour 0.
Three file formats are read (the format is detected from the header, or forced with ``fmt``):

* **wide** — a timestamp column followed by one column per zone (the packaged 2022 data);
* **long** — columns ``zone,timestamp,gco2_per_kwh`` (aliases accepted, any column order);
* **eCO2mix** — RTE's export for France: ``Périmètre, Nature, Date, Heures, ..., Taux de Co2``, 15-minute
  rows in French local time, UTF-8 or Latin-1, comma/semicolon/tab separated, accented or unaccented
  headers, disclaimer lines and rows without a value (future quarter-hours, half-hour data) skipped;
  also the ODRÉ open-data form (``Heure``, ``Taux de CO2 (g/kWh)``, ``Date - Heure`` with its offset).

Rows finer than an hour are averaged to hourly means. A missing hour is an error naming the first
missing timestamp, unless ``fill`` says how to fill it (``previous`` or ``linear``). Files may be
compressed (``.gz``, ``.xz``, ``.bz2``). ``load_carbon("builtin:2022")`` reads the packaged data.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from hexagrid.errors import DataError, InputError, NotFound

__all__ = [
    "BUILTIN",
    "CarbonTrace",
    "Fill",
    "ZoneStats",
    "builtin_path",
    "load_carbon",
    "load_eco2mix",
    "load_long_csv",
    "load_wide_csv",
    "parse_carbon_text",
]

Fill = Literal["none", "previous", "linear"]
Format = Literal["auto", "wide", "long", "eco2mix"]

#: Packaged data sets: name -> file under ``hexagrid/data/carbon``.
BUILTIN: dict[str, str] = {
    "2022": "grid_carbon_intensity_2022_hourly.csv.xz",
    "eco2mix-sample": "eco2mix_france_2025-07-01.csv",
}

_TS_NAMES = ("timestamp", "timestamp_utc", "datetime", "datetime_utc", "time", "date")
_ZONE_NAMES = ("zone", "zone_code", "zone_id")
_VALUE_NAMES = ("gco2_per_kwh", "carbon_intensity", "carbon_intensity_g_per_kwh", "intensity", "value")
_PARIS = ZoneInfo("Europe/Paris")
#: eCO2mix's ``Périmètre`` values mapped to zone codes; any other perimeter keeps its own name.
_PERIMETER_ZONES = {"france": "FR"}


@dataclass(frozen=True, slots=True)
class ZoneStats:
    """Summary of one zone's hourly intensity over the whole trace (gCO2eq/kWh)."""

    zone: str
    hours: int
    mean: float
    min: float
    p5: float
    median: float
    p95: float
    max: float


@dataclass(frozen=True)
class CarbonTrace:
    """Hourly intensity (gCO2eq/kWh) per zone: ``values[z, h]`` holds hour ``h`` after ``start`` for ``zones[z]``.

    ``start`` is timezone-aware UTC on a whole hour. ``values`` is read-only so a trace can be shared.
    """

    zones: tuple[str, ...]
    start: datetime
    values: npt.NDArray[np.float64]
    source: str = "memory"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] != len(self.zones):
            raise InputError(
                f"{self.source}: values must be [zones x hours] with {len(self.zones)} zones, got shape {v.shape}"
            )
        if v.shape[1] == 0:
            raise DataError(f"{self.source}: no hourly values")
        if len(set(self.zones)) != len(self.zones):
            raise DataError(f"{self.source}: zone names repeat: {', '.join(self.zones)}")
        if self.start.tzinfo is None:
            raise InputError(f"{self.source}: start must be timezone-aware (UTC), got {self.start.isoformat()}")
        start = self.start.astimezone(UTC)
        if start.minute or start.second or start.microsecond:
            raise InputError(f"{self.source}: start must be on a whole hour, got {start.isoformat()}")
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            bad = np.argwhere(~np.isfinite(v) | (v < 0))[0]
            raise DataError(
                f"{self.source}: zone {self.zones[bad[0]]} hour {bad[1]}: intensity must be a finite value >= 0, "
                f"got {v[bad[0], bad[1]]}"
            )
        v = v.copy() if v is self.values and v.flags.writeable else v
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "start", start)

    # --- shape and lookup -------------------------------------------------------------------------
    @property
    def hours(self) -> int:
        return int(self.values.shape[1])

    @property
    def start_s(self) -> float:
        """POSIX seconds of the start of hour 0."""
        return self.start.timestamp()

    @property
    def end(self) -> datetime:
        """The end of the last hour (exclusive)."""
        return self.start + timedelta(hours=self.hours)

    def zone_index(self, zone: str) -> int:
        """Row of ``zone``; NotFound lists the zones this trace holds."""
        try:
            return self._index[zone]
        except KeyError:
            raise NotFound(f"zone {zone!r} is not in {self.source}; zones: {', '.join(self.zones)}") from None

    @cached_property
    def _index(self) -> dict[str, int]:
        return {z: i for i, z in enumerate(self.zones)}

    def series(self, zone: str) -> npt.NDArray[np.float64]:
        """The zone's hourly values (read-only view)."""
        return self.values[self.zone_index(zone)]

    @cached_property
    def cumulative(self) -> npt.NDArray[np.float64]:
        """``[zones x (hours + 1)]`` running sums with a leading 0: the integral of intensity over whole hours."""
        c = np.zeros((len(self.zones), self.hours + 1))
        np.cumsum(self.values, axis=1, out=c[:, 1:])
        c.setflags(write=False)
        return c

    def timestamps(self) -> npt.NDArray[np.datetime64]:
        """Start of every hour as ``datetime64[s]`` (UTC)."""
        t0 = np.datetime64(self.start.replace(tzinfo=None), "s")
        return t0 + np.arange(self.hours) * np.timedelta64(3600, "s")

    def hour_of(self, when: datetime | date) -> int:
        """Index of the hour holding ``when`` (a date means its 00:00 UTC); DataError if outside the trace."""
        dt = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day, tzinfo=UTC)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        h = int((dt - self.start).total_seconds() // 3600)
        if not 0 <= h <= self.hours:
            raise DataError(
                f"{self.source}: {dt.isoformat()} is outside the data ({self.start.isoformat()} to {self.end.isoformat()})"
            )
        return h

    def select(self, zones: list[str] | tuple[str, ...]) -> CarbonTrace:
        """A trace with only ``zones`` (in that order)."""
        rows = [self.zone_index(z) for z in zones]
        return CarbonTrace(tuple(zones), self.start, self.values[rows], self.source, self.notes)

    def stats(self) -> list[ZoneStats]:
        """Mean, min, p5, median, p95 and max per zone."""
        q = np.percentile(self.values, [5, 50, 95], axis=1)
        mean, lo, hi = self.values.mean(axis=1), self.values.min(axis=1), self.values.max(axis=1)
        return [
            ZoneStats(
                z,
                self.hours,
                float(mean[i]),
                float(lo[i]),
                float(q[0, i]),
                float(q[1, i]),
                float(q[2, i]),
                float(hi[i]),
            )
            for i, z in enumerate(self.zones)
        ]


# --- reading files -----------------------------------------------------------------------------------


def builtin_path(name: str = "2022") -> Path:
    """Path of a packaged data set (``2022`` or ``eco2mix-sample``)."""
    if name not in BUILTIN:
        raise NotFound(f"no built-in carbon data {name!r}; built-ins: {', '.join('builtin:' + k for k in BUILTIN)}")
    return Path(str(resources.files("hexagrid").joinpath("data", "carbon", BUILTIN[name])))


def _read_text(path: Path) -> str:
    """The file's text: decompressed by suffix, UTF-8 (with or without BOM) or else Latin-1 (RTE's own)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"carbon data file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    opener = {".gz": gzip.decompress, ".xz": lzma.decompress, ".bz2": bz2.decompress}.get(path.suffix.lower())
    if opener is not None:
        try:
            raw = opener(raw)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise DataError(f"{path}: not a valid {path.suffix} file: {exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _norm(name: str) -> str:
    """Header key: accents stripped, lower case, single spaces (``Périmètre`` -> ``perimetre``)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.strip().strip('"').lower().split())


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in ("\t", ";", ",")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def _parse_utc(text: str, where: str) -> int:
    """ISO 8601 time -> POSIX seconds; a time without offset is taken as UTC."""
    s = text.strip()
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise DataError(f"{where}: cannot read {text!r} as an ISO 8601 time (e.g. 2022-01-01T00:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _to_hourly(
    times_s: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    where: str,
    fill: Fill,
    tolerate: frozenset[int] = frozenset(),
) -> tuple[int, npt.NDArray[np.float64]]:
    """Average rows into whole UTC hours; returns (first hour in POSIX hours, [cols x hours]).

    ``values`` is ``[rows x cols]`` with NaN for missing cells. An hour with no value in some column is a
    gap: an error naming its timestamp unless ``fill`` is ``previous`` or ``linear``. Hours in
    ``tolerate`` (POSIX hour numbers) are interpolated even with ``fill='none'``.
    """
    hour = times_s // 3600
    h0, h1 = int(hour.min()), int(hour.max())
    n = h1 - h0 + 1
    idx = hour - h0
    ok = ~np.isnan(values)
    sums = np.zeros((values.shape[1], n))
    counts = np.zeros((values.shape[1], n))
    for c in range(values.shape[1]):
        sums[c] = np.bincount(idx[ok[:, c]], weights=values[ok[:, c], c], minlength=n)
        counts[c] = np.bincount(idx[ok[:, c]], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = sums / counts
    missing = counts == 0
    if missing.any():
        gaps = missing.any(axis=0)
        if tolerate:
            gaps &= ~np.isin(np.arange(h0, h0 + n), np.fromiter(tolerate, dtype=np.int64))
        if fill == "none" and gaps.any():
            first = int(np.flatnonzero(gaps)[0])
            ts = datetime.fromtimestamp((h0 + first) * 3600, UTC).strftime("%Y-%m-%dT%H:%MZ")
            total = int(gaps.sum())
            raise DataError(
                f"{where}: no value for hour {ts} ({total} hour(s) missing); fill gaps in the file or load with "
                "fill='previous' or fill='linear'"
            )
        x = np.arange(n)
        for c in range(values.shape[1]):
            m = missing[c]
            if not m.any():
                continue
            have = np.flatnonzero(~m)
            if have.size == 0:
                raise DataError(f"{where}: no value at all in column {c}")
            if fill == "previous":
                pos = np.maximum(np.searchsorted(have, x, side="right") - 1, 0)
                hourly[c] = hourly[c, have[pos]]
            else:
                hourly[c] = np.interp(x, have, hourly[c, have])
    return h0, hourly


def _check_sorted(times_s: npt.NDArray[np.int64], rows: list[int], where: str, allow_equal: bool = False) -> None:
    d = np.diff(times_s)
    bad = np.flatnonzero(d < 0 if allow_equal else d <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        what = "goes back in time" if d[i - 1] < 0 else "repeats the previous timestamp"
        raise DataError(f"{where}: line {rows[i]} {what}; rows must be in increasing time order")


def _trace(zones: list[str], h0: int, hourly: npt.NDArray[np.float64], source: str) -> CarbonTrace:
    return CarbonTrace(tuple(zones), datetime.fromtimestamp(h0 * 3600, UTC), hourly, source)


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """Header and (1-based line number, cells) of non-empty rows."""
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return [], [], ","
    delim = _delimiter(lines[first])
    reader = csv.reader(io.StringIO("\n".join(lines[first:])), delimiter=delim)
    header: list[str] = []
    body: list[tuple[int, list[str]]] = []
    for n, row in enumerate(reader):
        if n == 0:
            header = [h.strip() for h in row]
        elif any(c.strip() for c in row):
            body.append((first + n + 1, [c.strip() for c in row]))
    return header, body, delim


def _wide(header: list[str], body: list[tuple[int, list[str]]], where: str, fill: Fill) -> CarbonTrace:
    zones = header[1:]
    if not zones:
        raise DataError(f"{where}: a wide file needs a timestamp column then one column per zone, got header {header}")
    if not body:
        raise DataError(f"{where}: no data rows")
    width = len(header)
    for line, row in body:
        if len(row) != width:
            raise DataError(f"{where}: line {line} has {len(row)} fields, the header has {width}")
    times = np.array([_parse_utc(r[0], f"{where}: line {ln} column {header[0]!r}") for ln, r in body], dtype=np.int64)
    lines = [ln for ln, _ in body]
    _check_sorted(times, lines, where)
    cells = [[c if c else "nan" for c in r[1:]] for _, r in body]
    vals = _floats_allow_nan(cells, where, zones, lines)
    h0, hourly = _to_hourly(times, vals, where, fill)
    return _trace(zones, h0, hourly, where)


def _floats_allow_nan(
    cells: list[list[str]], where: str, columns: list[str], lines: list[int]
) -> npt.NDArray[np.float64]:
    """Parse numeric cells; empty cells (written as ``nan``) are kept as gaps; errors name the file line."""
    try:
        out = np.array(cells, dtype=np.float64)
    except ValueError:
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise DataError(
                        f"{where}: line {lines[r]} column {columns[c]!r}: expected a number in gCO2eq/kWh, got {cell!r}"
                    ) from None
        raise
    bad = np.argwhere(np.isinf(out) | (out < 0))
    if bad.size:
        r, c = bad[0]
        raise DataError(f"{where}: line {lines[r]} column {columns[c]!r}: intensity must be >= 0, got {cells[r][c]!r}")
    return out


def _pick(header_norm: list[str], names: tuple[str, ...]) -> int | None:
    return next((header_norm.index(n) for n in names if n in header_norm), None)


def _long(header: list[str], body: list[tuple[int, list[str]]], where: str, fill: Fill) -> CarbonTrace:
    hn = [_norm(h).replace(" ", "_") for h in header]
    zi, ti, vi = _pick(hn, _ZONE_NAMES), _pick(hn, _TS_NAMES), _pick(hn, _VALUE_NAMES)
    if zi is None or ti is None or vi is None:
        raise DataError(f"{where}: a long file needs columns zone, timestamp and gco2_per_kwh; got {', '.join(header)}")
    if not body:
        raise DataError(f"{where}: no data rows")
    by_zone: dict[str, list[tuple[int, int, str]]] = {}
    for line, row in body:
        if len(row) <= max(zi, ti, vi):
            raise DataError(f"{where}: line {line} has {len(row)} fields, the header has {len(header)}")
        t = _parse_utc(row[ti], f"{where}: line {line} column {header[ti]!r}")
        by_zone.setdefault(row[zi], []).append((t, line, row[vi] or "nan"))
    zones = list(by_zone)
    spans: list[tuple[int, int]] = []
    series: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    for z in zones:
        rows = sorted(by_zone[z])
        times = np.array([r[0] for r in rows], dtype=np.int64)
        lines = [r[1] for r in rows]
        d = np.flatnonzero(np.diff(times) == 0)
        if d.size:
            raise DataError(
                f"{where}: zone {z} has two rows for {_fmt(times[d[0]])} (lines {lines[d[0]]} and {lines[d[0] + 1]})"
            )
        vals = _floats_allow_nan([[r[2]] for r in rows], f"{where}: zone {z}", [header[vi]], lines)
        series.append((times, vals))
        spans.append((int(times.min() // 3600), int(times.max() // 3600)))
    h0, h1 = min(s[0] for s in spans), max(s[1] for s in spans)
    out = np.empty((len(zones), h1 - h0 + 1))
    for k, (z, (times, vals)) in enumerate(zip(zones, series, strict=True)):
        # pad each zone to the common span so a zone that starts late or ends early is reported as a gap
        pad_t = np.array([h0 * 3600, h1 * 3600], dtype=np.int64)
        t_all = np.concatenate([pad_t[:1], times, pad_t[1:]])
        v_all = np.concatenate([[np.nan], vals[:, 0], [np.nan]])[:, None]
        _, hourly = _to_hourly(t_all, v_all, f"{where}: zone {z}", fill)
        out[k] = hourly[0]
    return _trace(zones, h0, out, where)


def _fmt(t_s: int) -> str:
    return datetime.fromtimestamp(int(t_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _eco2mix_date(text: str, where: str) -> date:
    s = text.strip()
    try:
        if "/" in s:
            d, m, y = s.split("/")
            return date(int(y), int(m), int(d))
        return date.fromisoformat(s)
    except ValueError:
        raise DataError(f"{where}: cannot read date {text!r}; expected YYYY-MM-DD or DD/MM/YYYY") from None


def _co2_column(hn: list[str]) -> int:
    """Index of ``Taux de Co2`` (also ``Taux de CO2 (g/kWh)`` as on the ODRÉ open-data portal), or -1."""
    return next((i for i, h in enumerate(hn) if h.startswith("taux de co2")), -1)


def _eco2mix(header: list[str], body: list[tuple[int, list[str]]], where: str, fill: Fill) -> CarbonTrace:
    hn = [_norm(h) for h in header]
    ci = _co2_column(hn)
    pi = hn.index("perimetre") if "perimetre" in hn else -1
    # an explicit instant with its UTC offset (ODRÉ: "Date - Heure" = 2022-01-01T00:00:00+01:00) beats local time
    ti = next((hn.index(k) for k in ("date - heure", "date_heure", "date heure") if k in hn), -1)
    di = hn.index("date") if "date" in hn else -1
    hi = next((hn.index(k) for k in ("heures", "heure") if k in hn), -1)
    missing = [name for name, i in (("Taux de Co2", ci),) if i < 0]
    if ti < 0:
        missing += [name for name, i in (("Date", di), ("Heures", hi)) if i < 0]
    if missing:
        raise DataError(
            f"{where}: an eCO2mix file needs columns Taux de Co2 and either Date and Heures or 'Date - Heure'; "
            f"missing {', '.join(missing)} (columns: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''})"
        )
    need = max(ci, ti, di, hi, pi)
    per_zone: dict[str, list[tuple[int, int, float]]] = {}
    for line, row in body:
        if len(row) <= need:
            # RTE files end with a disclaimer on its own line; anything short that is not data is skipped
            continue
        value = row[ci].strip()
        if value in ("", "ND", "-", "nd") or (ti < 0 and not row[hi].strip()):
            continue  # quarter-hours not yet published, or half-hourly columns in consolidated files
        try:
            co2 = float(value.replace(",", "."))
        except ValueError:
            raise DataError(
                f"{where}: line {line} column {header[ci]!r}: expected a number in gCO2/kWh, got {value!r}"
            ) from None
        if co2 < 0:
            raise DataError(f"{where}: line {line} column {header[ci]!r}: intensity must be >= 0, got {value!r}")
        perimeter = row[pi].strip() if pi >= 0 else "France"
        zone = _PERIMETER_ZONES.get(_norm(perimeter), perimeter)
        rows_z = per_zone.setdefault(zone, [])
        if ti >= 0:
            text = row[ti].strip()
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                raise DataError(
                    f"{where}: line {line} column {header[ti]!r}: cannot read {text!r}; expected e.g. "
                    "2022-01-01T00:00:00+01:00"
                ) from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=_PARIS)
            rows_z.append((line, int(dt.timestamp()), co2))
            continue
        day = _eco2mix_date(row[di], f"{where}: line {line} column 'Date'")
        try:
            hh, mm = (int(x) for x in row[hi].strip().split(":")[:2])
            local = datetime(day.year, day.month, day.day, hh, mm)
        except ValueError:
            raise DataError(f"{where}: line {line} column 'Heures': cannot read {row[hi]!r}; expected HH:MM") from None
        rows_z.append((line, _paris_to_utc_s(local, rows_z[-1][1] if rows_z else None), co2))
    if not per_zone:
        raise DataError(f"{where}: no row with a 'Taux de Co2' value")
    zones = list(per_zone)
    starts, ends = [], []
    for z in zones:
        ts = np.array([r[1] for r in per_zone[z]], dtype=np.int64)
        starts.append(int(ts.min() // 3600))
        ends.append(int(ts.max() // 3600))
    h0, h1 = min(starts), max(ends)
    out = np.empty((len(zones), h1 - h0 + 1))
    for zi, z in enumerate(zones):
        rows = per_zone[z]
        ts = np.array([r[1] for r in rows], dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        dup = np.flatnonzero(np.diff(ts) == 0)
        if dup.size:
            a, b = rows[order[dup[0]]][0], rows[order[dup[0] + 1]][0]
            raise DataError(f"{where}: lines {a} and {b} give the same time ({_fmt(ts[dup[0]])}) for {z}")
        vals = np.array([rows[i][2] for i in order])
        t_all = np.concatenate([[h0 * 3600], ts, [h1 * 3600]]).astype(np.int64)
        v_all = np.concatenate([[np.nan], vals, [np.nan]])[:, None]
        _, hourly = _to_hourly(t_all, v_all, f"{where}: zone {z}", fill, _autumn_fold_hours(h0, h1))
        out[zi] = hourly[0]
    return _trace(zones, h0, out, where)


def _autumn_fold_hours(h0: int, h1: int) -> frozenset[int]:
    """POSIX hours of the repeated local hour (02:00-02:59 winter time, 01:00Z) on each last Sunday of October.

    An export that lists those wall-clock times only once leaves that UTC hour empty; it is interpolated
    from its neighbours rather than rejected as a gap (documented in docs/energy.md).
    """
    y0 = datetime.fromtimestamp(h0 * 3600, UTC).year
    y1 = datetime.fromtimestamp(h1 * 3600, UTC).year
    out = set()
    for y in range(y0, y1 + 1):
        last = date(y, 10, 31)
        sunday = last - timedelta(days=(last.weekday() + 1) % 7)
        out.add(int(datetime(sunday.year, sunday.month, sunday.day, 1, tzinfo=UTC).timestamp()) // 3600)
    return frozenset(out)


def _paris_to_utc_s(local: datetime, previous_s: int | None) -> int:
    """French local wall time -> POSIX seconds.

    In the autumn fold (02:00-02:59 happens twice) the first pass is summer time; once the wall clock has
    gone past the fold's start, the rows that repeat those wall times are the later (winter) instants.
    """
    t0 = int(local.replace(tzinfo=_PARIS, fold=0).timestamp())
    t1 = int(local.replace(tzinfo=_PARIS, fold=1).timestamp())
    if t0 == t1 or previous_s is None:
        return t0
    return t1 if previous_s >= t0 else t0


def parse_carbon_text(text: str, source: str, fmt: Format = "auto", fill: Fill = "none") -> CarbonTrace:
    """Parse carbon data from text; ``source`` names it in errors. See the module docstring for formats."""
    if fill not in ("none", "previous", "linear"):
        raise InputError(f"fill must be none, previous or linear, got {fill!r}")
    header, body, _ = _rows(text)
    if not header:
        raise DataError(f"{source}: empty file; expected a CSV with a header row")
    hn = [_norm(h) for h in header]
    if fmt == "auto":
        if _co2_column(hn) >= 0:
            fmt = "eco2mix"
        elif _pick([h.replace(" ", "_") for h in hn], _ZONE_NAMES) is not None:
            fmt = "long"
        else:
            fmt = "wide"
    if fmt == "eco2mix":
        return _eco2mix(header, body, source, fill)
    if fmt == "long":
        return _long(header, body, source, fill)
    if fmt == "wide":
        return _wide(header, body, source, fill)
    raise InputError(f"format must be auto, wide, long or eco2mix, got {fmt!r}")


def load_wide_csv(path: str | Path, fill: Fill = "none") -> CarbonTrace:
    """Timestamp column then one column per zone (e.g. ``timestamp_utc,FR,DE,...``)."""
    p = Path(path)
    return parse_carbon_text(_read_text(p), str(p), "wide", fill)


def load_long_csv(path: str | Path, fill: Fill = "none") -> CarbonTrace:
    """Columns ``zone,timestamp,gco2_per_kwh`` in any order, one row per zone and time."""
    p = Path(path)
    return parse_carbon_text(_read_text(p), str(p), "long", fill)


def load_eco2mix(path: str | Path, fill: Fill = "none") -> CarbonTrace:
    """RTE eCO2mix export (France or a region): ``Taux de Co2`` averaged to hourly, local time -> UTC."""
    p = Path(path)
    return parse_carbon_text(_read_text(p), str(p), "eco2mix", fill)


@lru_cache(maxsize=4)
def _load_builtin(name: str) -> CarbonTrace:
    p = builtin_path(name)
    return parse_carbon_text(_read_text(p), f"builtin:{name}", "auto", "none")


def load_carbon(path: str | Path = "builtin:2022", fmt: Format = "auto", fill: Fill = "none") -> CarbonTrace:
    """Load a carbon trace from a file (format detected from its header) or ``builtin:<name>``.

    The built-in data is parsed once per process and shared (traces are read-only).
    """
    s = str(path)
    if s.startswith("builtin:"):
        return _load_builtin(s.split(":", 1)[1])
    p = Path(s)
    return parse_carbon_text(_read_text(p), str(p), fmt, fill)
