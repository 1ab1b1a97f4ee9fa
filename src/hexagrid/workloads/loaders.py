"""Trace loaders: Microsoft Philly 2017, Microsoft ITP 2021, SWF (Parallel Workloads Archive), generic CSV.

Each returns a :class:`~hexagrid.workloads.table.JobTable` sorted by submit time, with submit times in
seconds from the trace's first submission and durations as the trace measured them (on the trace's
reference accelerator, V100 by default: an estimate, see :data:`TRACE_REFERENCE_NOTE`). Reading is
columnar (pyarrow.csv, numpy), so a whole trace loads in a fraction of a second.

A file that does not hold what its format promises raises :class:`~hexagrid.errors.DataError` naming
the file, the row (or line) and the column, and what was expected.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from hexagrid.errors import DataError, InputError, NotFound
from hexagrid.workloads.table import KINDS, JobTable

__all__ = [
    "BUILTIN_TRACES",
    "TRACE_REFERENCE_NOTE",
    "builtin_trace_path",
    "load_csv",
    "load_itp",
    "load_philly",
    "load_swf",
    "load_trace",
]

#: Why trace durations are taken as V100 durations by default.
TRACE_REFERENCE_NOTE = (
    "estimate: Philly (2017) ran on Pascal- and Volta-era GPUs and ITP (2021) on V100-class GPUs; neither "
    "trace records the GPU model per job, so both are read as V100 time (0.45 of an A100 for training)"
)

#: Built-in trace names -> packaged file (in hexagrid/data/traces) and loader kind.
BUILTIN_TRACES: dict[str, str] = {
    "itp": "microsoft-itp-2021.csv.gz",
    "microsoft-itp-2021": "microsoft-itp-2021.csv.gz",
    "philly": "microsoft-philly-2017.csv.gz",
    "microsoft-philly-2017": "microsoft-philly-2017.csv.gz",
}


def builtin_trace_path(name: str) -> Path:
    """The packaged copy of a built-in trace (``itp``, ``philly`` or their long names)."""
    try:
        filename = BUILTIN_TRACES[name]
    except KeyError:
        raise NotFound(f"trace {name!r} is not built in; built-in: {', '.join(BUILTIN_TRACES)}") from None
    return Path(str(resources.files("hexagrid") / "data" / "traces" / filename))


def load_trace(name_or_path: str | Path, *, reference_accelerator: str = "V100", **options: Any) -> JobTable:
    """A built-in trace by name, or a file/folder by path (format from its name and header).

    Built-in: ``itp`` / ``microsoft-itp-2021``, ``philly`` / ``microsoft-philly-2017``. A path ending in
    ``.swf`` (or ``.swf.gz``) is read as SWF; a folder or an ITP-style header as ITP; a Philly header as
    Philly; any other CSV needs ``mapping=`` (see :func:`load_csv`).
    """
    key = str(name_or_path)
    if key in BUILTIN_TRACES:
        _only(options, set(), f"the built-in trace {key}")
        path = builtin_trace_path(key)
        loader = load_itp if "itp" in BUILTIN_TRACES[key] else load_philly
        return loader(path, reference_accelerator=reference_accelerator)
    path = Path(name_or_path)
    if not path.exists():
        raise NotFound(f"trace {key!r}: no such file, and not a built-in trace ({', '.join(BUILTIN_TRACES)})")
    if path.is_dir():
        return load_itp(path, reference_accelerator=reference_accelerator)
    lower = path.name.lower()
    if lower.endswith((".swf", ".swf.gz")):
        _only(options, {"processors_per_gpu"}, "an SWF file")
        return load_swf(path, reference_accelerator=reference_accelerator, **options)
    if "mapping" in options:
        _only(options, {"mapping", "time_format", "duration_unit", "name"}, "a generic CSV")
        return load_csv(path, reference_accelerator=reference_accelerator, **options)
    _only(options, set(), "a Philly or ITP trace")
    header = _header(path)
    if {"submission_time", "duration", "num_gpu"} <= set(header):
        return load_itp(path, reference_accelerator=reference_accelerator)
    if {"timestamp", "duration", "num_gpus"} <= set(header):
        return load_philly(path, reference_accelerator=reference_accelerator)
    raise DataError(
        f"{path}: not a known trace format (columns found: {', '.join(header) or 'none'}); "
        "Philly needs timestamp,duration,num_gpus; ITP needs submission_time,duration,num_gpu; "
        "other CSVs need a column mapping (load_csv(path, mapping={'submit': ..., 'duration': ..., 'gpus': ...}))"
    )


def _only(options: dict[str, Any], accepted: set[str], what: str) -> None:
    """Options that do not apply to the format found are an error, not silently ignored."""
    extra = sorted(set(options) - accepted)
    if extra:
        ok = ", ".join(sorted(accepted)) or "none"
        raise InputError(f"option(s) {', '.join(extra)} do not apply to {what}; accepted: {ok}")


# -- Philly ----------------------------------------------------------------------------------------


def load_philly(path: str | Path, *, reference_accelerator: str = "V100") -> JobTable:
    """Microsoft Philly 2017 as published with the Pollux artifact (``philly.csv``, or the packaged copy).

    Columns ``timestamp`` ("YYYY-MM-DD HH:MM:SS", read as UTC), ``duration`` (s), ``num_gpus``,
    ``cluster`` (virtual cluster id); ``gpu_time`` is ignored if present. A job's id is
    ``philly-RRRRRR``, its 0-based data row in the file. Submit offsets count from the first submission.
    """
    path = Path(path)
    table = _read_csv(
        path,
        {"timestamp": pa.timestamp("s"), "duration": pa.float64(), "num_gpus": pa.int64(), "cluster": pa.string()},
    )
    ts = table.column("timestamp").cast(pa.int64()).to_numpy().astype(np.float64)
    duration = _float_column(path, table, "duration")
    gpus = _int_column(path, table, "num_gpus")
    cluster_codes, cluster_names = _categorical(table.column("cluster"))
    n = len(ts)
    origin = float(ts.min()) if n else 0.0
    ids = np.array([f"philly-{i:06d}" for i in range(n)], dtype=object)
    _check_positive(path, duration, "duration", strict=True)
    _check_positive(path, gpus, "num_gpus", strict=True)
    return JobTable.from_arrays(
        "microsoft-philly-2017",
        job_id=ids,
        submit_s=ts - origin,
        duration_s=duration,
        gpus=gpus,
        cluster=cluster_codes,
        clusters=cluster_names,
        reference_accelerator=reference_accelerator,
        origin_s=origin,
        notes=(f"durations read as {reference_accelerator} time ({TRACE_REFERENCE_NOTE})",),
    )


# -- ITP -------------------------------------------------------------------------------------------


def load_itp(path: str | Path, *, reference_accelerator: str = "V100") -> JobTable:
    """Microsoft ITP 2021: a folder of ``clusterNN.csv``, one such file, or the packaged single file.

    Columns ``submission_time`` (s from trace start), ``duration`` (s), ``num_gpu`` and either
    ``job_id`` (the original files; ``cluster`` comes from the file name) or ``cluster`` (the packaged
    copy, which drops the uuids). A job's id is ``itp-cNN-RRRRRR``: its cluster and 0-based data row in
    that cluster's file, the same whichever copy was read. Submit offsets are the trace's own (all
    clusters share one clock starting 2021-03-04).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("cluster*.csv"))
        if not files:
            raise DataError(f"{path}: no cluster*.csv files in this folder (expected cluster01.csv .. cluster10.csv)")
        parts = []
        for f in files:
            stem = f.stem.removeprefix("cluster")
            if not stem.isdigit():
                raise DataError(f"{f}: file name must be clusterNN.csv with NN a number, got {f.name!r}")
            parts.append(_read_itp_part(f, int(stem)))
    else:
        stem = path.name.split(".")[0].removeprefix("cluster")
        parts = [_read_itp_part(path, int(stem) if stem.isdigit() else None)]
    cluster = np.concatenate([p[0] for p in parts])
    submit = np.concatenate([p[1] for p in parts])
    duration = np.concatenate([p[2] for p in parts])
    gpus = np.concatenate([p[3] for p in parts])
    # row within its cluster, in file order
    row = np.empty(len(cluster), dtype=np.int64)
    order = np.argsort(cluster, kind="stable")
    sc = cluster[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sc)) + 1]
    counts = np.diff(np.r_[starts, len(sc)])
    row[order] = np.arange(len(sc)) - np.repeat(starts, counts)
    ids = np.array([f"itp-c{c:02d}-{r:06d}" for c, r in zip(cluster.tolist(), row.tolist(), strict=True)], dtype=object)
    names = sorted(set(cluster.tolist()))
    code_of = np.zeros(max(names) + 1 if names else 1, dtype=np.int32)
    code_of[names] = np.arange(len(names), dtype=np.int32)
    return JobTable.from_arrays(
        "microsoft-itp-2021",
        job_id=ids,
        submit_s=submit,
        duration_s=duration,
        gpus=gpus,
        cluster=code_of[cluster] if len(cluster) else cluster.astype(np.int32),
        clusters=tuple(f"cluster{c:02d}" for c in names),
        reference_accelerator=reference_accelerator,
        origin_s=datetime(2021, 3, 4, tzinfo=UTC).timestamp(),
        notes=(f"durations read as {reference_accelerator} time ({TRACE_REFERENCE_NOTE})",),
    )


def _read_itp_part(path: Path, cluster_from_name: int | None) -> tuple[np.ndarray, ...]:
    header = _header(path)
    types: dict[str, pa.DataType] = {"submission_time": pa.float64(), "duration": pa.float64(), "num_gpu": pa.int64()}
    if "cluster" in header:
        types["cluster"] = pa.int64()
    elif cluster_from_name is None:
        raise DataError(
            f"{path}: an ITP file needs a cluster column or a clusterNN.csv name (columns found: {', '.join(header)})"
        )
    table = _read_csv(path, types)
    submit = _float_column(path, table, "submission_time")
    duration = _float_column(path, table, "duration")
    gpus = _int_column(path, table, "num_gpu")
    if "cluster" in types:
        cluster = _int_column(path, table, "cluster")
        _check_positive(path, cluster, "cluster", strict=False)
    else:
        cluster = np.full(len(submit), cluster_from_name, dtype=np.int64)
    _check_positive(path, submit, "submission_time", strict=False)
    _check_positive(path, duration, "duration", strict=True)
    _check_positive(path, gpus, "num_gpu", strict=True)
    return cluster, submit, duration, gpus


# -- SWF -------------------------------------------------------------------------------------------

#: The 18 SWF fields, 1-based in the format's documentation, 0-based here.
SWF_FIELDS = (
    "job_number",
    "submit_time",
    "wait_time",
    "run_time",
    "allocated_processors",
    "average_cpu_time",
    "used_memory",
    "requested_processors",
    "requested_time",
    "requested_memory",
    "status",
    "user_id",
    "group_id",
    "executable",
    "queue",
    "partition",
    "preceding_job",
    "think_time",
)


def load_swf(
    path: str | Path,
    *,
    processors_per_gpu: int = 1,
    reference_accelerator: str = "V100",
) -> JobTable:
    """A Standard Workload Format file (Parallel Workloads Archive): ';' header lines, 18 fields a line.

    - submit = field 2 (submit time, s), offset from the first job kept; run time = field 4.
    - processors = field 5 (allocated), or field 8 (requested) where allocated is -1; GPUs =
      ceil(processors / ``processors_per_gpu``) (1 processor = 1 GPU by default, as for a GPU
      cluster's log; a CPU log with 8 cores per GPU would say 8).
    - Per the SWF conventions -1 means "unknown": a job whose run time is -1 or 0 (never ran or was
      cancelled before starting) or whose processor count is unknown is skipped, and the number
      skipped is recorded in the table's ``notes``. Status (field 11) is not used otherwise.
    - the header's ``UnixStartTime`` (if any) gives the calendar time of the first job (``origin_s``).
    - ids are ``swf-<job number>``. Requested time (field 9) is not used: walltimes come from the
      mapping rule, as for the other traces.
    """
    path = Path(path)
    if processors_per_gpu < 1:
        raise InputError(f"processors_per_gpu: must be >= 1, got {processors_per_gpu}")
    text = _read_text(path)
    unix_start: float | None = None
    line_numbers: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(";"):
            key, _, value = line.lstrip(";").partition(":")
            if key.strip() == "UnixStartTime" and value.strip().lstrip("-").isdigit():
                unix_start = float(value.strip())
            continue
        line_numbers.append(lineno)
    if not line_numbers:
        data = np.empty((0, 18), dtype=np.float64)
    else:
        try:
            # numpy's C parser: several hundred thousand records a second
            data = np.loadtxt(io.StringIO(text), comments=";", dtype=np.float64, ndmin=2)
        except ValueError:
            _swf_diagnose(path, text)  # raises the DataError naming the line and field
            raise
        if data.shape[1] != 18:
            _swf_diagnose(path, text)
    job_number = data[:, 0].astype(np.int64)
    submit = data[:, 1]
    run = data[:, 3]
    procs = np.where(data[:, 4] > 0, data[:, 4], data[:, 7])
    bad_submit = submit < 0
    if bad_submit.any():
        i = int(np.flatnonzero(bad_submit)[0])
        raise DataError(f"{path}: line {line_numbers[i]}: field 2 (submit_time) must be >= 0, got {submit[i]:g}")
    seen, dup = np.unique(job_number, return_counts=True)
    if (dup > 1).any():
        j = int(seen[dup > 1][0])
        lines = [line_numbers[i] for i in np.flatnonzero(job_number == j)[:2].tolist()]
        raise DataError(
            f"{path}: line {lines[1]}: field 1 (job_number) {j} repeats line {lines[0]}; job numbers must be unique"
        )
    keep = (run > 0) & (procs > 0)
    skipped_run = int((run <= 0).sum())
    skipped_procs = int(((run > 0) & (procs <= 0)).sum())
    gpus = np.ceil(procs[keep] / processors_per_gpu).astype(np.int64)
    sub = submit[keep]
    origin = float(sub.min()) if len(sub) else 0.0
    notes = [f"GPUs = ceil(processors / {processors_per_gpu})"]
    if unix_start is None:
        notes.append("no UnixStartTime in the header: calendar time of the first job unknown")
    if skipped_run:
        notes.append(f"skipped {skipped_run} records with run time -1 (unknown) or 0 (never ran), per SWF conventions")
    if skipped_procs:
        notes.append(f"skipped {skipped_procs} records with unknown processor count (-1 in fields 5 and 8)")
    return JobTable.from_arrays(
        path.name.split(".")[0],
        job_id=np.array([f"swf-{j}" for j in job_number[keep].tolist()], dtype=object),
        submit_s=sub - origin,
        duration_s=run[keep],
        gpus=gpus,
        reference_accelerator=reference_accelerator,
        origin_s=None if unix_start is None else unix_start + origin,
        notes=tuple(notes),
    )


def _swf_diagnose(path: Path, text: str) -> None:
    """Find the first malformed SWF record and raise a DataError naming its line and field."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        parts = line.split()
        if len(parts) != 18:
            raise DataError(f"{path}: line {lineno}: an SWF record has 18 fields, found {len(parts)}: {line[:80]!r}")
        for i, p in enumerate(parts):
            if not _is_number(p):
                raise DataError(f"{path}: line {lineno}: field {i + 1} ({SWF_FIELDS[i]}) must be a number, got {p!r}")
    raise DataError(f"{path}: not readable as SWF (18 numeric fields a record, ';' comments)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- generic CSV -----------------------------------------------------------------------------------

_CSV_KEYS = ("submit", "duration", "gpus", "id", "cluster", "end", "kind")


def load_csv(
    path: str | Path,
    mapping: Mapping[str, str],
    *,
    time_format: str = "seconds",
    duration_unit: str = "s",
    reference_accelerator: str = "V100",
    name: str | None = None,
) -> JobTable:
    """Any CSV with one job a row, through a column mapping.

    ``mapping`` keys: ``submit`` and ``gpus`` (required), ``duration`` or ``end`` (one required),
    ``id``, ``cluster`` and ``kind`` (optional; training, fine_tuning, inference or batch, kept by the
    mapping rule), each naming a column of the file.

    ``time_format``: ``seconds`` (numbers, any origin), ``iso`` (ISO 8601 text, UTC unless it says
    otherwise) or a ``strptime`` pattern such as ``%Y-%m-%d %H:%M:%S`` (read as UTC). ``end`` is read
    in the same format; duration = end - submit. ``duration_unit``: ``s``, ``min`` or ``h``.
    Submit offsets count from the first submission. Without an ``id`` column ids are ``<name>-RRRRRR``.
    """
    path = Path(path)
    unknown = sorted(set(mapping) - set(_CSV_KEYS))
    if unknown:
        raise InputError(f"mapping: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(_CSV_KEYS)}")
    for key in ("submit", "gpus"):
        if key not in mapping:
            raise InputError(f"mapping: {key!r} is required (the column holding it); got keys {', '.join(mapping)}")
    if ("duration" in mapping) == ("end" in mapping):
        raise InputError("mapping: give exactly one of 'duration' (a length) or 'end' (an end time)")
    units = {"s": 1.0, "min": 60.0, "h": 3600.0}
    if duration_unit not in units:
        raise InputError(f"duration_unit: must be one of {', '.join(units)}, got {duration_unit!r}")
    header = _header(path)
    missing = [f"{k}={c!r}" for k, c in mapping.items() if c not in header]
    if missing:
        raise DataError(f"{path}: mapped column(s) not found: {', '.join(missing)}; columns found: {', '.join(header)}")
    types: dict[str, pa.DataType] = {mapping["gpus"]: pa.int64()}
    if "duration" in mapping:
        types[mapping["duration"]] = pa.float64()
    for key in ("id", "cluster", "kind"):
        if key in mapping:
            types[mapping[key]] = pa.string()
    time_cols = [mapping[k] for k in ("submit", "end") if k in mapping]
    for col in time_cols:
        types[col] = pa.float64() if time_format == "seconds" else pa.string()
    table = _read_csv(path, types)
    times = {c: _time_column(path, table, c, time_format) for c in time_cols}
    submit = times[mapping["submit"]]
    if "duration" in mapping:
        duration = _float_column(path, table, mapping["duration"]) * units[duration_unit]
        dur_col = mapping["duration"]
    else:
        duration = times[mapping["end"]] - submit
        dur_col = f"{mapping['end']} - {mapping['submit']}"
    gpus = _int_column(path, table, mapping["gpus"])
    _check_positive(path, duration, dur_col, strict=True)
    _check_positive(path, gpus, mapping["gpus"], strict=True)
    label = name or path.name.split(".")[0]
    n = len(submit)
    if "id" in mapping:
        ids = np.array(table.column(mapping["id"]).to_pylist(), dtype=object)
        if any(i is None or i == "" for i in ids.tolist()):
            i = next(k for k, v in enumerate(ids.tolist()) if v is None or v == "")
            raise DataError(f"{path}: row {i + 2}: column {mapping['id']!r} (id) is empty")
        uniq, counts = np.unique(ids.astype(str), return_counts=True)
        if (counts > 1).any():
            raise DataError(
                f"{path}: column {mapping['id']!r} (id) repeats {str(uniq[counts > 1][0])!r}; ids must be unique"
            )
    else:
        ids = np.array([f"{label}-{i:06d}" for i in range(n)], dtype=object)
    cluster_codes: np.ndarray | None = None
    cluster_names: tuple[str, ...] = ()
    if "cluster" in mapping:
        cluster_codes, cluster_names = _categorical(table.column(mapping["cluster"]))
    kind_codes = _kind_column(path, table, mapping["kind"]) if "kind" in mapping else None
    origin = float(submit.min()) if n else 0.0
    return JobTable.from_arrays(
        label,
        kind=kind_codes,
        job_id=ids,
        submit_s=submit - origin,
        duration_s=duration,
        gpus=gpus,
        cluster=cluster_codes,
        clusters=cluster_names,
        reference_accelerator=reference_accelerator,
        origin_s=origin if time_format != "seconds" else None,
    )


# -- helpers ---------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _header(path: Path) -> list[str]:
    """The CSV header's column names."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                first = fh.readline()
        else:
            with path.open(encoding="utf-8") as fh:
                first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the header line: {exc}") from None
    return [c.strip().strip('"') for c in first.rstrip("\r\n").split(",") if c.strip()]


def _read_csv(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    """Read the named columns with the given types; a missing column lists the columns found."""
    header = _header(path)
    missing = [c for c in types if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; columns found: {', '.join(header) or 'none'}")
    try:
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(types)),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(_explain_arrow_error(path, types, str(exc))) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def _explain_arrow_error(path: Path, types: dict[str, pa.DataType], message: str) -> str:
    """Turn pyarrow's conversion error into 'file: line L: column C must be T, got V'.

    pyarrow names the column (by index) and the value but not always the row, so the column is read
    again as text and the first value that does not convert gives the line.
    """
    m = re.search(
        r"column #(\d+): (?:Row #\d+: )?CSV conversion error to ([\w\[\]]+): invalid value '([^']*)'", message
    )
    if m:
        header = _header(path)
        col_idx, to_type, value = int(m.group(1)), m.group(2), m.group(3)
        col = header[col_idx] if col_idx < len(header) else f"#{col_idx}"
        kind = {"double": "a number", "int64": "an integer", "timestamp[s]": "a time YYYY-MM-DD HH:MM:SS"}.get(
            to_type, to_type
        )
        line = _first_bad_line(path, col, types.get(col))
        where = f"line {line}: " if line is not None else ""
        return f"{path}: {where}column {col!r} must be {kind}, got {value!r}"
    m = re.search(r"Expected (\d+) columns, got (\d+): (.*)", message)
    if m:
        return f"{path}: a row has {m.group(2)} fields where the header has {m.group(1)}: {m.group(3)[:80]!r}"
    return f"{path}: cannot read as CSV: {message.splitlines()[0]}"


def _first_bad_line(path: Path, column: str, to_type: pa.DataType | None) -> int | None:
    """The file line (header = line 1) of the first value in ``column`` that does not cast to ``to_type``."""
    if to_type is None:
        return None
    try:
        texts = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column]),
        ).column(column)
    except (pa.ArrowInvalid, OSError):
        return None
    for i, value in enumerate(texts.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), to_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i + 2
    return None


def _null_check(path: Path, table: pa.Table, column: str) -> None:
    col = table.column(column)
    if col.null_count:
        row = int(np.flatnonzero(pc.is_null(col).to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{path}: line {row + 2}: column {column!r} is empty")


def _float_column(path: Path, table: pa.Table, column: str) -> np.ndarray:
    _null_check(path, table, column)
    arr = table.column(column).to_numpy().astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: line {row + 2}: column {column!r} must be a finite number, got {arr[row]}")
    return arr


def _int_column(path: Path, table: pa.Table, column: str) -> np.ndarray:
    _null_check(path, table, column)
    return table.column(column).to_numpy().astype(np.int64)


def _check_positive(path: Path, arr: np.ndarray, column: str, *, strict: bool) -> None:
    bad = arr <= 0 if strict else arr < 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        need = "> 0" if strict else ">= 0"
        raise DataError(f"{path}: line {row + 2}: column {column!r} must be {need}, got {arr[row]:g}")


def _kind_column(path: Path, table: pa.Table, column: str) -> np.ndarray:
    """Kind codes (see ``KINDS``) from a text column; an unknown kind names its line."""
    labels = [k.value for k in KINDS]
    code_of = {k: i for i, k in enumerate(labels)}
    values = table.column(column).to_pylist()
    out = np.empty(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        code = code_of.get((v or "").strip())
        if code is None:
            raise DataError(
                f"{path}: line {i + 2}: column {column!r} (kind) must be one of {', '.join(labels)}, got {v!r}"
            )
        out[i] = code
    return out


def _categorical(col: pa.ChunkedArray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes (int32, sorted label order) and labels of a string column; empty -> -1."""
    values = np.array(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
    labels, codes = np.unique(values.astype(str), return_inverse=True)
    out = codes.astype(np.int32)
    names = [str(x) for x in labels]
    if "" in names:
        empty = names.index("")
        out = np.where(out == empty, -1, out - (out > empty)).astype(np.int32)
        names.remove("")
    return out, tuple(names)


def _time_column(path: Path, table: pa.Table, column: str, time_format: str) -> np.ndarray:
    """POSIX seconds (or plain seconds) from a time column in the given format.

    pyarrow parses the column in C where it can (all-naive or all-offset ISO text, strptime patterns);
    otherwise, or to name the line of a bad value, Python's parser takes over row by row. Text
    without a zone is UTC.
    """
    if time_format == "seconds":
        return _float_column(path, table, column)
    _null_check(path, table, column)
    texts = table.column(column)
    fast = _arrow_times(texts, time_format)
    if fast is not None:
        return fast
    parse = _iso if time_format == "iso" else (lambda t: _strptime(t, time_format))
    values = texts.to_pylist()
    out = np.empty(len(values), dtype=np.float64)
    for row, t in enumerate(values):
        try:
            out[row] = parse(t)
        except ValueError:
            raise DataError(
                f"{path}: line {row + 2}: column {column!r} must be a time in format {time_format!r}, got {t!r}"
            ) from None
    return out


def _arrow_times(texts: pa.ChunkedArray, time_format: str) -> np.ndarray | None:
    """Seconds since the epoch parsed by pyarrow, or None where it cannot parse the whole column."""
    attempts: list[Callable[[], Any]]
    if time_format == "iso":
        attempts = [
            lambda: pc.cast(texts, pa.timestamp("us")),
            lambda: pc.cast(texts, pa.timestamp("us", tz="UTC")),
        ]
    else:
        attempts = [lambda: pc.strptime(texts, format=time_format, unit="us")]
    for attempt in attempts:
        try:
            parsed = attempt()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
        if parsed.null_count:
            continue
        return parsed.cast(pa.int64()).to_numpy().astype(np.float64) / 1e6
    return None


def _strptime(text: str, time_format: str) -> float:
    dt = datetime.strptime(text, time_format)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _iso(text: str) -> float:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
