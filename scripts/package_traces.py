#!/usr/bin/env python3
"""Make the packaged trace copies in ``src/hexagrid/data/traces`` from ``../shared/data/traces``.

Run from the repository root: ``.venv/bin/python scripts/package_traces.py [--src DIR] [--dst DIR]``.

- ``microsoft-philly-2017.csv.gz``: ``philly.csv`` row for row, in the original row order (a job's id is
  its 0-based data row), without the ``gpu_time`` column, which is exactly ``duration x num_gpus`` in
  every row (the script checks that before dropping it). Values are written exactly as read.
- ``microsoft-itp-2021.csv.gz``: ``cluster01.csv`` .. ``cluster10.csv`` concatenated, with a ``cluster``
  column (1..10) in place of the 36-character ``job_id`` uuids; a job's id becomes cluster + its 0-based
  data row in its cluster file (``itp-c04-000123``), so the original uuid can be recovered by row.

Both are gzip level 9 with a fixed mtime of 0, so running the script twice gives byte-identical files.
The LICENSE of each trace is copied beside it and PROVENANCE.md is written.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT.parent / "shared" / "data" / "traces"
DEFAULT_DST = ROOT / "src" / "hexagrid" / "data" / "traces"

PROVENANCE = """# Packaged GPU job traces

Made by `scripts/package_traces.py` from `../shared/data/traces` (see its README). Values are exact
copies of the originals; only the layout changed, as listed. The loaders in `hexagrid.workloads`
reproduce the README counts from these copies (tests/workloads/test_loaders.py checks it).

## microsoft-philly-2017.csv.gz (Apache-2.0, LICENSE-philly beside it)
Microsoft Philly (Jeon et al., USENIX ATC 2019), as processed and published with the Pollux artifact
(petuum/adaptdl, branch osdi21-artifact, `simulator/traces/philly.csv`).
- Columns: `timestamp` ("YYYY-MM-DD HH:MM:SS", read as UTC), `duration` (s), `num_gpus`, `cluster`.
- Same rows in the same order as `philly.csv`; the `gpu_time` column is dropped because it equals
  `duration x num_gpus` in every row (checked by the packaging script).
- 82,247 jobs, 978,078.5 GPU-hours, 2017-09-04 .. 2017-12-22, 15 virtual clusters.
- sha256 of the source philly.csv: {philly_sha}

## microsoft-itp-2021.csv.gz (MIT, LICENSE-itp beside it)
Microsoft ITP clusters, first-party training jobs (ElasticFlow, ASPLOS 2023;
microsoft/elasticflow-traces, `data/raw-traces.tar.gz`).
- Columns: `cluster` (1..10, from the file name clusterNN.csv), `submission_time` (s from trace start),
  `duration` (s), `num_gpu`.
- The 36-character `job_id` uuids are dropped to keep the file small; rows keep their order within each
  cluster file, so a job's id is `itp-cNN-RRRRRR` (cluster, 0-based data row in clusterNN.csv).
- 69,351 jobs in 10 clusters, 1,632,719.7 GPU-hours, 2021-03-04 .. 2021-05-03.
- sha256 of the source cluster files: {itp_sha}
"""


def _gzip_write(path: Path, text: str) -> None:
    raw = text.encode("utf-8")
    with path.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=fh, mtime=0) as gz:
        gz.write(raw)


def package_philly(src: Path, dst: Path) -> str:
    path = src / "microsoft-philly-2017" / "philly.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        writer.writerow(["timestamp", "duration", "num_gpus", "cluster"])
        for line, row in enumerate(reader, start=2):
            if float(row["gpu_time"]) != float(row["duration"]) * int(row["num_gpus"]):
                raise SystemExit(f"{path}:{line}: gpu_time != duration x num_gpus; refusing to drop gpu_time")
            writer.writerow([row["timestamp"], row["duration"], row["num_gpus"], row["cluster"]])
    _gzip_write(dst / "microsoft-philly-2017.csv.gz", out.getvalue())
    shutil.copyfile(src / "microsoft-philly-2017" / "LICENSE", dst / "LICENSE-philly")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_itp(src: Path, dst: Path) -> str:
    files = sorted((src / "microsoft-itp-2021").glob("cluster*.csv"))
    if len(files) != 10:
        raise SystemExit(f"expected cluster01..10.csv in {src / 'microsoft-itp-2021'}, found {len(files)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cluster", "submission_time", "duration", "num_gpu"])
    digest = hashlib.sha256()
    for path in files:
        cluster = int(path.stem.removeprefix("cluster"))
        digest.update(path.read_bytes())
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                writer.writerow([cluster, row["submission_time"], row["duration"], row["num_gpu"]])
    _gzip_write(dst / "microsoft-itp-2021.csv.gz", out.getvalue())
    shutil.copyfile(src / "microsoft-itp-2021" / "LICENSE", dst / "LICENSE-itp")
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="the shared traces folder")
    parser.add_argument("--dst", type=Path, default=DEFAULT_DST, help="where the packaged copies go")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        print(f"package_traces: source folder {args.src} not found", file=sys.stderr)
        return 2
    args.dst.mkdir(parents=True, exist_ok=True)
    philly_sha = package_philly(args.src, args.dst)
    itp_sha = package_itp(args.src, args.dst)
    (args.dst / "PROVENANCE.md").write_text(PROVENANCE.format(philly_sha=philly_sha, itp_sha=itp_sha))
    for f in sorted(args.dst.iterdir()):
        print(f"{f.stat().st_size:>10,d}  {f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
