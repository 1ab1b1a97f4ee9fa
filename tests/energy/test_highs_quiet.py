"""``new_highs``: HiGHS never writes on standard output (``--json`` commands that solve an LP print JSON
only), and a solver may ask for its own thread count after another one has solved."""

from __future__ import annotations

import json
import subprocess
import sys

import highspy

from hexagrid.energy.highs import new_highs

_SCRIPT = """
import json
from hexagrid.energy.highs import new_highs
h = new_highs(time_limit=5.0)
h2 = new_highs()
v = h.getOptionValue("time_limit")
print(json.dumps({"ok": True, "time_limit": v[-1] if isinstance(v, tuple) else v}))
"""


def test_the_first_solver_of_a_process_prints_nothing_on_stdout() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == {"ok": True, "time_limit": 5.0}
    assert done.stdout.count("\n") == 1


def test_a_solver_may_ask_for_another_thread_count_after_a_first_solve() -> None:
    first = new_highs()
    first.addVar(0.0, 1.0)
    first.changeColCost(0, 1.0)
    assert first.run() == highspy.HighsStatus.kOk
    second = new_highs(threads=1)
    second.addVar(0.0, 1.0)
    second.changeColCost(0, -1.0)
    assert second.run() == highspy.HighsStatus.kOk
    assert second.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert second.getInfo().objective_function_value == -1.0
