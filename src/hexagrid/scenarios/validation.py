"""Reading YAML strictly and turning pydantic's errors into Hexagrid's one-line field errors.

Shared by every loader of user documents (scenarios, and any area that reads YAML into a domain
model): :func:`load_yaml` reads text with clear line/column errors, and :func:`field_errors` rewrites a
``pydantic.ValidationError`` as ``sites[3].pools[0].gpus_per_node: must be between 1 and 16, got 0``.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from hexagrid.domain.geography import Residency
from hexagrid.errors import FieldError, ValidationFailed

__all__ = ["field_errors", "format_path", "load_yaml", "show_value"]


# --------------------------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and keeps YAML 1.1 surprises out.

    ``NO`` (Norway), ``on`` and ``yes`` stay strings (only true/false are booleans), and dates stay
    strings so that pydantic reports a bad date at its field rather than YAML failing without a path.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first at line {seen[key].line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
            except TypeError:  # unhashable key: let the base class report it
                pass
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes one ValidationFailed error with its line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ValidationFailed(source, [FieldError("", f"{where}YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(source, [FieldError("", f"YAML syntax error: {exc}")]) from None


# --------------------------------------------------------------------------------------- formatting


def format_path(loc: Iterable[int | str]) -> str:
    """``('sites', 3, 'pools', 0, 'gpus_per_node')`` -> ``sites[3].pools[0].gpus_per_node``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def show_value(value: Any) -> str:
    """A value as a user wrote it in YAML, short enough for one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


# ------------------------------------------------------------------------------ model introspection

_PATTERN_WORDS = {
    r"^[a-z0-9][a-z0-9_.-]*$": "an id of lowercase letters, digits, '.', '_' or '-' starting with a letter or digit",
    r"^[A-Z]{2}$": "an ISO 3166 alpha-2 country code in capitals, such as FR or DE",
}


def _unwrap(tp: Any) -> Any:
    """Strip ``X | None`` and ``Annotated``."""
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_by_key(model: type[BaseModel], key: str) -> FieldInfo | None:
    fields = model.model_fields
    if key in fields:
        return fields[key]
    return next((f for f in fields.values() if f.alias == key), None)


def _resolve(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[FieldInfo | None, type[BaseModel] | None, Any]:
    """Follow ``loc`` through the model's annotations: (field info, its model, its type) of the last step."""
    tp: Any = model
    info: FieldInfo | None = None
    owner: type[BaseModel] | None = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            info = _field_by_key(tp, part)
            if info is None:
                return None, tp, None
            owner, tp = tp, info.annotation
            continue
        origin = get_origin(tp)
        args = get_args(tp)
        if isinstance(part, int) and origin in (list, tuple, set, frozenset) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            return None, None, None
        info, owner = None, None
    return info, owner, _unwrap(tp)


def _accepted_keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    keys = [f.alias or name for name, f in model.model_fields.items()]
    # the bookkeeping maps (estimates, sources) come first in declaration order but matter least
    return [k for k in keys if k not in _LAST] + [k for k in keys if k in _LAST]


_LAST = ("estimates", "sources")


def _bounds(info: FieldInfo | None, ctx: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if info is not None:
        for m in info.metadata:
            for name, kind in (
                ("ge", annotated_types.Ge),
                ("le", annotated_types.Le),
                ("gt", annotated_types.Gt),
                ("lt", annotated_types.Lt),
            ):
                if isinstance(m, kind):
                    found[name] = getattr(m, name)
    for name in ("ge", "le", "gt", "lt"):
        if name in ctx and name not in found:
            found[name] = ctx[name]
    return found


def _range_message(b: dict[str, Any]) -> str:
    low = ("ge", b["ge"]) if "ge" in b else ("gt", b["gt"]) if "gt" in b else None
    high = ("le", b["le"]) if "le" in b else ("lt", b["lt"]) if "lt" in b else None
    if low and high:
        if low[0] == "ge" and high[0] == "le":
            return f"must be between {_num(low[1])} and {_num(high[1])}"
        lo_txt = f"at least {_num(low[1])}" if low[0] == "ge" else f"greater than {_num(low[1])}"
        hi_txt = f"at most {_num(high[1])}" if high[0] == "le" else f"less than {_num(high[1])}"
        return f"must be {lo_txt} and {hi_txt}"
    if low:
        return f"must be at least {_num(low[1])}" if low[0] == "ge" else f"must be greater than {_num(low[1])}"
    if high:
        return f"must be at most {_num(high[1])}" if high[0] == "le" else f"must be less than {_num(high[1])}"
    return "is out of range"


def _choices(tp: Any, ctx: dict[str, Any]) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return ", ".join(str(m.value) for m in tp)
    if get_origin(tp) is Literal:
        return ", ".join(str(a) for a in get_args(tp))
    return str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "date_type": "a date such as 2026-01-01",
    "date_parsing": "a date such as 2026-01-01",
    "date_from_datetime_parsing": "a date such as 2026-01-01",
    "date_from_datetime_inexact": "a date such as 2026-01-01",
}


def _message(err: dict[str, Any], model: type[BaseModel], extra_top_keys: Sequence[str]) -> str:
    kind: str = err["type"]
    loc: tuple[int | str, ...] = tuple(err["loc"])
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    got = f", got {show_value(value)}"
    info, _owner, tp = _resolve(model, loc)

    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = _resolve(model, loc[:-1])[2] if loc[:-1] else model
        keys = _accepted_keys(parent if isinstance(parent, type) and issubclass(parent, BaseModel) else None)
        if not loc[:-1]:
            keys = [*keys, *extra_top_keys]
        return f"unknown field {loc[-1]!r}; accepted: {', '.join(keys)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _range_message(_bounds(info, ctx)) + got
    if kind in ("enum", "literal_error"):
        return f"must be one of {_choices(tp, ctx)}{got}"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        return str(error) if error is not None else err["msg"]
    if kind in ("model_type", "model_attributes_type", "dataclass_type"):
        if tp is Residency:
            return f"must be FR, EU, ANY or a list of country codes{got}"
        keys = _accepted_keys(tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None)
        return f"must be a mapping with fields {', '.join(keys)}{got}" if keys else f"must be a mapping{got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"must be {_PATTERN_WORDS.get(pattern, f'text matching {pattern}')}{got}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must be at least {n} characters{got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}{got}"
    return f"{err['msg']}{got}"


def field_errors(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    extra_top_keys: Sequence[str] = (),
    prefix: Sequence[int | str] = (),
) -> list[FieldError]:
    """Translate pydantic's errors for ``model`` into our phrasing, one FieldError per problem.

    ``extra_top_keys`` are keys a loader accepts at the top level besides the model's fields (listed
    in "accepted: ..."); ``prefix`` is prepended to every path (for a model nested in a bigger document).
    """
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        message = _message(dict(err), model, extra_top_keys)
        if err["type"] == "value_error":
            loc, message = _pin_to_field(model, loc, message)
        out.append(FieldError(format_path((*prefix, *loc)), message))
    return out


def _pin_to_field(
    model: type[BaseModel], loc: tuple[int | str, ...], message: str
) -> tuple[tuple[int | str, ...], str]:
    """Move an object-level rule's error onto the field it is about.

    A model validator's error sits at the object (``sites[2]``); its message starts with the field it
    is about ("heat_taker is required when ..."), so the first field name before any quoted value names it.
    """
    tp = _resolve(model, loc)[2] if loc else model
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return loc, message
    head = re.split(r"['(]", message, maxsplit=1)[0]
    names = set(tp.model_fields)
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", head):
        if word in names:
            prefix = f"{word}: "
            return (*loc, word), message[len(prefix) :] if message.startswith(prefix) else message
    return loc, message
