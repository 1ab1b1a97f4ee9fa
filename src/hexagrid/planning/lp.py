"""A small sparse model builder over HiGHS: columns and rows as numpy arrays, one ``passModel`` call.

Building rows as coefficient lists and handing HiGHS one CSR matrix is much faster than its
expression API for models with tens of thousands of variables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from hexagrid.energy.highs import new_highs

__all__ = ["INF", "LinearModel", "SolveResult"]

INF = highspy.kHighsInf


@dataclass(frozen=True)
class SolveResult:
    """What HiGHS said: a status word, the column values (when a solution exists), the objective and the gap."""

    status: str  # "optimal" | "feasible" (time limit with a solution) | "infeasible" | "unbounded" | "error"
    x: npt.NDArray[np.float64] | None
    objective: float
    mip_gap: float
    solve_s: float
    model_status: str


class LinearModel:
    """Append columns and rows, then :meth:`solve` (minimisation)."""

    def __init__(self) -> None:
        self._lb: list[float] = []
        self._ub: list[float] = []
        self._cost: list[float] = []
        self._int: list[bool] = []
        self._names: list[str] = []
        self._row_lo: list[float] = []
        self._row_hi: list[float] = []
        self._row_names: list[str] = []
        self._starts: list[int] = [0]
        self._idx: list[int] = []
        self._val: list[float] = []

    @property
    def num_cols(self) -> int:
        return len(self._lb)

    @property
    def num_integer(self) -> int:
        return sum(self._int)

    @property
    def num_rows(self) -> int:
        return len(self._row_lo)

    def add_col(self, name: str, lb: float = 0.0, ub: float = INF, cost: float = 0.0, integer: bool = False) -> int:
        self._lb.append(lb)
        self._ub.append(ub)
        self._cost.append(cost)
        self._int.append(integer)
        self._names.append(name)
        return len(self._lb) - 1

    def add_cost(self, col: int, cost: float) -> None:
        self._cost[col] += cost

    def set_bounds(self, col: int, lb: float | None = None, ub: float | None = None) -> None:
        if lb is not None:
            self._lb[col] = lb
        if ub is not None:
            self._ub[col] = ub

    def add_row(self, name: str, coefs: dict[int, float], lo: float = -INF, hi: float = INF) -> int:
        """``lo <= sum(coef * x) <= hi``; zero coefficients are dropped."""
        for j, v in coefs.items():
            if v != 0.0:
                self._idx.append(j)
                self._val.append(v)
        self._starts.append(len(self._idx))
        self._row_lo.append(lo)
        self._row_hi.append(hi)
        self._row_names.append(name)
        return len(self._row_lo) - 1

    def row_name(self, i: int) -> str:
        return self._row_names[i]

    def col_name(self, j: int) -> str:
        return self._names[j]

    def solve(self, mip_gap: float = 1e-4, time_limit_s: float = 60.0, threads: int = 1) -> SolveResult:
        lp = highspy.HighsLp()
        lp.num_col_ = self.num_cols
        lp.num_row_ = self.num_rows
        lp.col_cost_ = np.asarray(self._cost, dtype=np.float64)
        lp.col_lower_ = np.asarray(self._lb, dtype=np.float64)
        lp.col_upper_ = np.asarray(self._ub, dtype=np.float64)
        lp.row_lower_ = np.asarray(self._row_lo, dtype=np.float64)
        lp.row_upper_ = np.asarray(self._row_hi, dtype=np.float64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = self.num_cols
        lp.a_matrix_.num_row_ = self.num_rows
        lp.a_matrix_.start_ = np.asarray(self._starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(self._idx, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(self._val, dtype=np.float64)
        if any(self._int):
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in self._int
            ]
        h = new_highs(mip_rel_gap=float(mip_gap), time_limit=float(time_limit_s), threads=int(threads), random_seed=0)
        h.passModel(lp)
        t0 = time.perf_counter()
        h.run()
        solve_s = time.perf_counter() - t0
        ms = h.getModelStatus()
        info = h.getInfo()
        has_sol = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        ms_name = h.modelStatusToString(ms)
        if ms == highspy.HighsModelStatus.kOptimal:
            status = "optimal"
        elif ms in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            status = "infeasible"
        elif ms == highspy.HighsModelStatus.kUnbounded:
            status = "unbounded"
        elif has_sol:
            status = "feasible"
        elif ms == highspy.HighsModelStatus.kTimeLimit:
            status = "time_limit"
        else:
            status = "error"
        x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
        gap = float(info.mip_gap) if any(self._int) and has_sol else 0.0
        obj = float(info.objective_function_value) if has_sol else float("nan")
        return SolveResult(status, x, obj, gap if np.isfinite(gap) else float("inf"), solve_s, ms_name)
