"""Run every hot-path benchmark (`hexagrid bench ...`) and print one table of its figures.

Each benchmark runs in its own process (so peak RSS is its own) and writes its JSON object to
``out/bench/<name>.json``; copy the figures you want to keep into ``docs/benchmarks.md`` with the
machine line this script prints.

    python bench/run_all.py                 # all of them (several minutes on 2 cores)
    python bench/run_all.py scheduler api   # some of them
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

BENCHES = {
    "scheduler": ["--gpus", "500000", "--pending", "100000"],
    "simulate": [],
    "api": [],
    "energy": [],
    "workloads": [],
    "plan": [],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(
            f"bench/run_all.py: error: unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHES)}", file=sys.stderr
        )
        return 2
    out = Path("out/bench")
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    )
    exe = Path(sys.executable).with_name("hexagrid")
    status = 0
    for name in names:
        cmd = [str(exe), "bench", name, *BENCHES[name], "--json"]
        print(f"\n$ {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr.strip() or f"exit {proc.returncode}")
            status = 1
            continue
        figures = json.loads(proc.stdout)
        (out / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        for key, value in sorted(figures.items()):
            if isinstance(value, int | float | str | bool):
                print(f"  {key:32s} {value}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
