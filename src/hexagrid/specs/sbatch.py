"""Import of Slurm batch scripts: the ``#SBATCH`` directives become the request; the script is ``run``.

Supported directives (long and short forms): ``--job-name/-J``, ``--nodes/-N``, ``--ntasks-per-node``,
``--gres=gpu[:TYPE]:N``, ``--gpus/-G [TYPE:]N`` (total), ``--gpus-per-node [TYPE:]N``, ``--time/-t``,
``--account/-A`` (the project), ``--partition/-p``, ``--mem``. Anything else is an error that names
the directive, so a script is never run with a silently dropped requirement. Hexagrid's own fields go
on ``#HEXAGRID key=value`` lines (``residency``, ``sovereignty``, ``objective``, ``preemptible``,
``kind``, ``deadline``, ``expected_duration``, ``priority``, ``accelerator``).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from hexagrid.domain import CATALOG
from hexagrid.errors import FieldError, ValidationFailed
from hexagrid.specs.model import JobRequest, parse_document

__all__ = ["SUPPORTED_DIRECTIVES", "parse_sbatch", "slurm_time_s"]

_ALIASES = {"-J": "--job-name", "-N": "--nodes", "-G": "--gpus", "-t": "--time", "-A": "--account", "-p": "--partition"}
SUPPORTED_DIRECTIVES = (
    "--job-name",
    "--nodes",
    "--ntasks-per-node",
    "--gres",
    "--gpus",
    "--gpus-per-node",
    "--time",
    "--account",
    "--partition",
    "--mem",
)
_HX_KEYS = (
    "residency",
    "sovereignty",
    "objective",
    "preemptible",
    "kind",
    "deadline",
    "expected_duration",
    "priority",
    "accelerator",
)


def slurm_time_s(value: str) -> float:
    """Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    v = value.strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", v)
    if not m:
        raise ValueError(f"expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, got {value!r}")
    days, a, b, c = m.groups()
    if days is not None:
        secs = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:
        secs = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:
        secs = int(a) * 60 + int(b)
    else:
        secs = int(a) * 60
    if secs <= 0:
        raise ValueError(f"must be a positive time, got {value!r}")
    return float(secs)


def _mem_gb(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", value.strip().upper())
    if not m:
        raise ValueError(f"expected a size such as 64G, 500M or 1T, got {value!r}")
    n, unit = float(m.group(1)), m.group(2) or "M"  # Slurm's default unit is megabytes
    return n * {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0}[unit]


def _typed_count(value: str, what: str) -> tuple[str | None, int]:
    """``N`` or ``TYPE:N`` (``gpu:`` prefix removed by the caller)."""
    parts = value.split(":")
    if len(parts) == 1:
        name, count = None, parts[0]
    elif len(parts) == 2:
        name, count = parts
    else:
        raise ValueError(f"expected [TYPE:]COUNT such as 8 or h100:8, got {value!r}")
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{what} count must be a whole number >= 1, got {value!r}")
    if name is not None:
        match = next((k for k in CATALOG if k.lower() == name.lower()), None)
        if match is None:
            raise ValueError(f"unknown GPU type {name!r}; known: {', '.join(CATALOG)}")
        name = match
    return name, int(count)


def parse_sbatch(text: str, source: str = "request") -> JobRequest:
    """Turn an sbatch script into a request; each unsupported directive is its own error."""
    errors: list[FieldError] = []
    opts: dict[str, tuple[str, int]] = {}
    hx: dict[str, tuple[str, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#HEXAGRID"):
            for tok in line[len("#HEXAGRID") :].split():
                key, eq, val = tok.partition("=")
                if not eq or key not in _HX_KEYS:
                    errors.append(
                        FieldError(
                            f"line {lineno}",
                            f"#HEXAGRID takes key=value with key one of {', '.join(_HX_KEYS)}, got {tok!r}",
                        )
                    )
                else:
                    hx[key] = (val, lineno)
            continue
        if not line.startswith("#SBATCH"):
            continue
        try:
            tokens = shlex.split(line[len("#SBATCH") :], comments=True)
        except ValueError as exc:
            errors.append(FieldError(f"line {lineno}", f"cannot read directive {line!r}: {exc}"))
            continue
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.startswith("--"):
                name, eq, val = tok.partition("=")
                if not eq and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                    val, i = tokens[i + 1], i + 1
            elif tok.startswith("-") and len(tok) >= 2:
                name, val = tok[:2], tok[2:]
                if not val and i + 1 < len(tokens):
                    val, i = tokens[i + 1], i + 1
            else:
                errors.append(FieldError(f"line {lineno}", f"cannot read #SBATCH argument {tok!r}"))
                i += 1
                continue
            name = _ALIASES.get(name, name)
            i += 1
            if name not in SUPPORTED_DIRECTIVES:
                errors.append(
                    FieldError(
                        f"#SBATCH {name} (line {lineno})",
                        f"unsupported directive; supported: {', '.join(SUPPORTED_DIRECTIVES)}",
                    )
                )
                continue
            if not val:
                errors.append(FieldError(f"#SBATCH {name} (line {lineno})", "needs a value"))
                continue
            opts[name] = (val, lineno)

    doc: dict[str, Any] = {"run": text, "resources": {}}
    accel: str | None = hx.get("accelerator", (None, 0))[0]
    nodes = 1
    per_node: int | None = None
    total: int | None = None

    def field(name: str) -> str:
        return f"#SBATCH {name} (line {opts[name][1]})"

    def guard(name: str, fn: Any) -> Any:
        try:
            return fn(opts[name][0])
        except ValueError as exc:
            errors.append(FieldError(field(name), str(exc)))
            return None

    if "--job-name" in opts:
        doc["name"] = re.sub(r"[^A-Za-z0-9_.-]", "-", opts["--job-name"][0])[:128]
    if "--nodes" in opts:
        v = opts["--nodes"][0]
        if re.fullmatch(r"\d+", v) and int(v) >= 1:
            nodes = int(v)
        else:
            errors.append(
                FieldError(
                    field("--nodes"),
                    f"expected a whole number of nodes >= 1 (ranges like 2-4 are not supported), got {v!r}",
                )
            )
    if "--ntasks-per-node" in opts:
        v = opts["--ntasks-per-node"][0]
        if not (v.isdigit() and int(v) >= 1):
            errors.append(FieldError(field("--ntasks-per-node"), f"expected a whole number >= 1, got {v!r}"))
        else:
            doc.setdefault("envs", {})["HEXAGRID_NTASKS_PER_NODE"] = v
    if "--gres" in opts:
        v = opts["--gres"][0]
        if not v.startswith("gpu"):
            errors.append(
                FieldError(field("--gres"), f"only GPU resources are supported (gpu:N or gpu:TYPE:N), got {v!r}")
            )
        else:
            got = guard("--gres", lambda s: _typed_count(s.split(":", 1)[1] if ":" in s else "1", "GPU"))
            if got:
                accel, per_node = got[0] or accel, got[1]
    if "--gpus-per-node" in opts:
        got = guard("--gpus-per-node", lambda s: _typed_count(s, "GPU"))
        if got:
            accel, per_node = got[0] or accel, got[1]
    if "--gpus" in opts:
        got = guard("--gpus", lambda s: _typed_count(s, "GPU"))
        if got:
            accel, total = got[0] or accel, got[1]
    if "--time" in opts:
        t = guard("--time", slurm_time_s)
        if t:
            doc["walltime"] = t
    if "--account" in opts:
        doc["project"] = opts["--account"][0].lower()
    if "--partition" in opts:
        part = opts["--partition"][0]
        match = next((k for k in CATALOG if k.lower() == part.lower()), None)
        if accel is None and match is not None:
            accel = match  # a partition named after its GPU (common on clusters: --partition=h100)
    if "--mem" in opts:
        g = guard("--mem", _mem_gb)
        if g is not None:
            doc["resources"]["memory"] = g
    if total is not None:
        if per_node is not None and total != per_node * nodes:
            errors.append(
                FieldError(field("--gpus"), f"{total} GPUs in total disagrees with {per_node} per node x {nodes} nodes")
            )
        elif total % nodes:
            errors.append(FieldError(field("--gpus"), f"{total} GPUs do not divide evenly over {nodes} nodes"))
        else:
            per_node = total // nodes
    if per_node is None and not errors:
        errors.append(FieldError("#SBATCH", "no GPUs requested: add --gres=gpu:N, --gpus-per-node N or --gpus N"))
    if accel is None and not errors:
        errors.append(
            FieldError(
                "#SBATCH",
                "no GPU type: use --gres=gpu:TYPE:N, --gpus-per-node=TYPE:N, a partition "
                f"named after the GPU, or '#HEXAGRID accelerator=NAME'; types: {', '.join(CATALOG)}",
            )
        )
    for key, (val, _ln) in hx.items():
        if key != "accelerator":
            doc[key] = val
    if errors:
        raise ValidationFailed(source, errors)
    doc["resources"]["accelerators"] = f"{accel}:{per_node}"
    doc["num_nodes"] = nodes
    req = parse_document(doc, source, source_format="sbatch")
    if "--partition" in opts:
        req = req.model_copy(update={"partition": opts["--partition"][0]})
    return req
