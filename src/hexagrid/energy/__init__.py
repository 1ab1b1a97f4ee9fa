"""Energy and carbon: power model, cooling and heat reuse, carbon signals and forecasts, accounting, oracle."""
