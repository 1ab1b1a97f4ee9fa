"""Make the packaged copy of the built-in carbon data from ``../shared/data/carbon``.

The wide CSV (timestamp + one column per zone, 2 decimals) is copied byte for byte and compressed with
xz (LZMA preset 9 extreme): gzip -9 gives 1.04 MB, xz 0.91 MB, and Python reads both with the standard
library. The eCO2mix one-day sample is copied uncompressed (18 kB) for tests and examples.

Usage: ``python scripts/package_carbon.py [--source ../shared/data/carbon]``; re-running it gives the
same bytes (no timestamps in the xz container).
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "carbon"
TARGET = REPO / "src" / "hexagrid" / "data" / "carbon"
WIDE = "grid_carbon_intensity_2022_hourly.csv"
SAMPLE = "eco2mix_france_2025-07-01.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder holding the shared carbon data")
    args = parser.parse_args()
    src: Path = args.source
    if not (src / WIDE).is_file():
        raise SystemExit(f"package_carbon: {src / WIDE} not found; pass --source FOLDER")
    TARGET.mkdir(parents=True, exist_ok=True)
    raw = (src / WIDE).read_bytes()
    packed = lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    out = TARGET / (WIDE + ".xz")
    out.write_bytes(packed)
    shutil.copyfile(src / "samples" / SAMPLE, TARGET / SAMPLE)
    print(
        f"{out.relative_to(REPO)}: {len(raw):,} -> {len(packed):,} bytes, sha256 of source {hashlib.sha256(raw).hexdigest()}"
    )
    print(f"{(TARGET / SAMPLE).relative_to(REPO)}: copied")


if __name__ == "__main__":
    main()
