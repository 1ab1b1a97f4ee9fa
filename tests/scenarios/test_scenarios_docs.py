"""The examples in docs/scenarios.md are real: the "write your own" file validates."""

from __future__ import annotations

import re
from pathlib import Path

from hexagrid.scenarios import parse_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_write_your_own_example_validates() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Writing your own", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    sc = parse_scenario(example.group(1), "docs/scenarios.md example")
    assert sc.name == "my-france"
    assert sc.fleet.site("idle-nantes-bank").gpus == 32
    assert sc.defaults.start_date.isoformat() == "2026-07-01"
    assert len(sc.sites) == 11
