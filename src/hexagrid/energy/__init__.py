"""Energy and carbon: power model, cooling and heat reuse, carbon signals and forecasts, accounting, oracle.

Modules: :mod:`~hexagrid.energy.power` (watts), :mod:`~hexagrid.energy.carbon` (traces and loaders),
:mod:`~hexagrid.energy.calendar` (scheduler time -> data hour), :mod:`~hexagrid.energy.forecast`
(CarbonSignals implementations), :mod:`~hexagrid.energy.accounting` (kWh, gCO2, heat, EUR per job),
:mod:`~hexagrid.energy.potential` (shifting potential), :mod:`~hexagrid.energy.oracle` (LP lower bound).
Import from the modules; this package imports nothing heavy on its own.
"""
