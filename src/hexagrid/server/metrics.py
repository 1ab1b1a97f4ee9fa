"""Prometheus text-format metrics, without a client library: counters and histograms we own, gauges read
from the database at scrape time (so every replica reports the same fleet view)."""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from typing import Any

__all__ = ["LATENCY_BUCKETS_S", "Metrics"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request latency histograms per (method, route) and scheduler decision counters."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # export() reads decisions_per_s() under it
        self._hist: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)
        self._status: dict[tuple[str, str, int], int] = defaultdict(int)
        self.decisions_total: dict[str, int] = defaultdict(int)
        self.passes_total = 0
        self.last_pass_s = 0.0
        self.last_pass_duration_s = 0.0
        self._recent: list[tuple[float, int]] = []  # (time, decisions) for the per-second rate
        self.is_leader = False

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        key = (method, route)
        i = bisect.bisect_left(LATENCY_BUCKETS_S, duration_s)
        with self._lock:
            self._hist[key][i] += 1
            self._sum[key] += duration_s
            self._count[key] += 1
            self._status[(method, route, status)] += 1

    def observe_pass(self, decisions: dict[str, int], duration_s: float) -> None:
        now = time.time()
        with self._lock:
            for k, v in decisions.items():
                self.decisions_total[k] += v
            self.passes_total += 1
            self.last_pass_s = now
            self.last_pass_duration_s = duration_s
            self._recent.append((now, sum(decisions.values())))
            self._recent = [(t, n) for t, n in self._recent if t > now - 60]

    #: decision kinds shared with a scheduler process, in this order after (leader, passes, duration)
    SHARED_KINDS = ("start", "preempt", "defer", "not_now")

    def export(self, shared: Any) -> None:
        """Copy the scheduler's figures into a shared array (the loop runs in another process)."""
        with self._lock:
            shared[0] = float(self.is_leader)
            shared[1] = float(self.passes_total)
            shared[2] = self.last_pass_duration_s
            for i, k in enumerate(self.SHARED_KINDS):
                shared[3 + i] = float(self.decisions_total.get(k, 0))
            shared[3 + len(self.SHARED_KINDS)] = self.decisions_per_s()

    def import_shared(self, shared: Any) -> None:
        """Take the scheduler process's figures from the shared array (at scrape time)."""
        vals = list(shared[:])
        with self._lock:
            self.is_leader = bool(vals[0])
            self.passes_total = int(vals[1])
            self.last_pass_duration_s = vals[2]
            for i, k in enumerate(self.SHARED_KINDS):
                if vals[3 + i]:
                    self.decisions_total[k] = int(vals[3 + i])
            self._shared_rate = vals[3 + len(self.SHARED_KINDS)]

    def decisions_per_s(self) -> float:
        if getattr(self, "_shared_rate", None) is not None:
            return float(self._shared_rate)
        now = time.time()
        with self._lock:
            n = sum(d for t, d in self._recent if t > now - 60)
        return n / 60.0

    def render(self, gauges: list[tuple[str, str, dict[str, str], float]]) -> str:
        """The exposition text: ``gauges`` are (name, help, labels, value) read by the caller."""
        out: list[str] = []
        seen: set[str] = set()
        for name, help_, labels, value in gauges:
            if name not in seen:
                out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
                seen.add(name)
            out.append(f"{name}{_labels(labels)} {_num(value)}")
        with self._lock:
            out += [
                "# HELP hexagrid_decisions_total Scheduler decisions by kind.",
                "# TYPE hexagrid_decisions_total counter",
            ]
            for k, v in sorted(self.decisions_total.items()):
                out.append(f'hexagrid_decisions_total{{kind="{k}"}} {v}')
            out += [
                "# HELP hexagrid_scheduler_passes_total Scheduling passes run by this replica.",
                "# TYPE hexagrid_scheduler_passes_total counter",
                f"hexagrid_scheduler_passes_total {self.passes_total}",
                "# HELP hexagrid_scheduler_leader 1 if this replica holds the scheduler lock.",
                "# TYPE hexagrid_scheduler_leader gauge",
                f"hexagrid_scheduler_leader {int(self.is_leader)}",
                "# HELP hexagrid_scheduler_last_pass_seconds Duration of the last scheduling pass.",
                "# TYPE hexagrid_scheduler_last_pass_seconds gauge",
                f"hexagrid_scheduler_last_pass_seconds {_num(self.last_pass_duration_s)}",
            ]
            out += [
                "# HELP hexagrid_http_requests_total HTTP requests by route and status.",
                "# TYPE hexagrid_http_requests_total counter",
            ]
            for (m, r, st), v in sorted(self._status.items()):
                out.append(f'hexagrid_http_requests_total{{method="{m}",route="{r}",status="{st}"}} {v}')
            out += [
                "# HELP hexagrid_http_request_duration_seconds Request latency.",
                "# TYPE hexagrid_http_request_duration_seconds histogram",
            ]
            for (m, r), counts in sorted(self._hist.items()):
                cum = 0
                for b, c in zip(LATENCY_BUCKETS_S, counts, strict=False):
                    cum += c
                    out.append(
                        f'hexagrid_http_request_duration_seconds_bucket{{method="{m}",route="{r}",le="{b}"}} {cum}'
                    )
                cum += counts[-1]
                out.append(f'hexagrid_http_request_duration_seconds_bucket{{method="{m}",route="{r}",le="+Inf"}} {cum}')
                out.append(
                    f'hexagrid_http_request_duration_seconds_sum{{method="{m}",route="{r}"}} {_num(self._sum[(m, r)])}'
                )
                out.append(
                    f'hexagrid_http_request_duration_seconds_count{{method="{m}",route="{r}"}} {self._count[(m, r)]}'
                )
        out.append(f"hexagrid_decisions_per_second {_num(self.decisions_per_s())}")
        return "\n".join(out) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = {k: str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()}
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(esc.items())) + "}"


def _num(v: float) -> str:
    return repr(float(v)) if v != int(v) else str(int(v))
