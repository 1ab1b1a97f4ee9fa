"""``/healthz`` and ``/metrics``: the Prometheus families the issue asks for, with live values."""

from __future__ import annotations

import re

from server_harness import Harness, job, site_doc


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith(name + "{") or line.startswith(name + " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics_report_queue_gpus_power_decisions_and_latency(harness: Harness) -> None:
    h = harness
    assert h.client.get("/healthz").json()["ok"] is True
    h.site(site_doc("fr1"))
    n = h.node(h.org("prov", kind="provider"), "fr1", "a")
    h.client.post(f"/v1/agents/{n[0]}/heartbeat", json={"telemetry": {"power_w": 512.5}}, headers=h.h(n[1]))
    t = h.org("acme")
    for _ in range(3):
        h.submit(t, job())
    h.schedule()
    m = h.client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    text = m.text
    assert _value(text, "hexagrid_queue_length", reason="capacity") == 1
    assert _value(text, "hexagrid_jobs", state="scheduled") == 2
    assert _value(text, "hexagrid_gpus_busy", site="fr1") == 2
    assert _value(text, "hexagrid_gpus_free", site="fr1") == 0
    assert _value(text, "hexagrid_power_watts", site="fr1") == 512.5
    assert _value(text, "hexagrid_decisions_total", kind="start") == 2
    assert _value(text, "hexagrid_http_request_duration_seconds_count", method="POST", route="/v1/jobs") == 3
    assert re.search(
        r'hexagrid_http_request_duration_seconds_bucket\{method="POST",route="/v1/jobs",le="\+Inf"\} 3', text
    )
    assert "hexagrid_decisions_per_second" in text
    assert t not in text, "no secrets in metrics"
