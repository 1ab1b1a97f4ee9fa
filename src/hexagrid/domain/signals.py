"""What the scheduler may know about the grid: carbon intensity now and forecasts, never the future.

A protocol, so the scheduler depends on the shape and not on a loader: the energy package implements
it over real data (perfect, persistence and noisy forecasts); tests may implement it over a dict.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["CarbonSignals"]


@runtime_checkable
class CarbonSignals(Protocol):
    """Grid carbon intensity (gCO2eq/kWh) per zone, as seen at a given time.

    An implementation may also offer ``hour_span(t_s) -> (from_s, until_s)``: a span holding ``t_s``
    over which the intensities, and the forecasts issued, stay the same. The scheduler then reads them
    once per span (once an hour for hourly data) instead of in every pass; without it, once per pass.
    """

    def zones(self) -> frozenset[str]:
        """Zone codes this signal covers (Electricity Maps codes: FR, DE, SE-SE3, ...)."""
        ...

    def intensity_g_per_kwh(self, zone: str, t_s: float) -> float:
        """The intensity in force at POSIX time ``t_s`` (the current hour's value)."""
        ...

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        """Forecast issued at ``issued_s`` for the ``hours`` whole hours starting with the hour that holds it."""
        ...
