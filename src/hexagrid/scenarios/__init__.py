"""Scenario files: a fleet, its tenants and defaults, as YAML validated into :class:`hexagrid.domain.Scenario`.

``load_scenario('france-2026')`` loads a built-in; ``load_scenario('my.yaml')`` a file. Errors come as one
:class:`hexagrid.errors.ValidationFailed` carrying every problem, each naming its field path.
"""

from hexagrid.scenarios.loader import (
    BUILTIN_DIR,
    builtin_names,
    builtin_path,
    dump_scenario,
    load_scenario,
    parse_scenario,
)
from hexagrid.scenarios.validation import field_errors, format_path, load_yaml, show_value

__all__ = [
    "BUILTIN_DIR",
    "builtin_names",
    "builtin_path",
    "dump_scenario",
    "field_errors",
    "format_path",
    "load_scenario",
    "load_yaml",
    "parse_scenario",
    "show_value",
]
