"""Hexagrid: run AI compute as a sovereign, low-carbon utility.

A pure scheduler (``hexagrid.scheduling``) decides where and when each AI workload runs under
residency, sovereignty, access and power rules; it is driven by a discrete-event simulator
(``hexagrid.simulation``) and by a live control plane (``hexagrid.server``).
"""

from hexagrid import _native

_native.install()  # before any submodule import: the compiled hot modules, or their sources if those are stale

__version__ = "0.1.0"
__all__ = ["__version__"]
