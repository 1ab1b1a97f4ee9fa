"""The validated job request (what a user asked for, before the server gives it an id)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hexagrid.domain import CATALOG, JobKind, JobSpec, Objective, Residency, Resources, SovereigntyTier
from hexagrid.errors import FieldError, ValidationFailed

__all__ = [
    "DEFAULT_EXPECTED_DURATION_S",
    "SERVICE_EXPECTED_DURATION_S",
    "JobRequest",
    "parse_document",
    "parse_duration_s",
]

#: A job that gives neither a duration nor a walltime is planned as one hour (the scheduler needs an
#: expected duration for reservations and backfill); an inference service as one week, since it runs
#: until cancelled.
DEFAULT_EXPECTED_DURATION_S = 3600.0
SERVICE_EXPECTED_DURATION_S = 7 * 86400.0

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DUR = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration_s(value: Any, field: str) -> float:
    """Seconds from a number, ``'90m'``, ``'1h30m'``, ``'2d'`` or ``'HH:MM:SS'``; ValueError names the form."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a duration such as 3600, '90m', '2h', '1d' or '01:30:00', got {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"{field}: must be > 0 seconds, got {value!r}")
        return float(value)
    if isinstance(value, str):
        s = value.strip().lower()
        if re.fullmatch(r"\d+:\d{2}(:\d{2})?", s):
            parts = [int(p) for p in s.split(":")]
            secs = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
            if secs > 0:
                return float(secs)
        elif s and _DUR.sub("", s).strip() == "" and _DUR.search(s):
            fsecs = sum((float(n) * _UNIT_S[u] for n, u in _DUR.findall(s)), 0.0)
            if fsecs > 0:
                return fsecs
        elif re.fullmatch(r"\d+(\.\d+)?", s) and float(s) > 0:
            return float(s)
    raise ValueError(f"{field}: expected a duration such as 3600, '90m', '2h', '1d' or '01:30:00', got {value!r}")


def _parse_accelerators(value: Any) -> tuple[tuple[str, ...], int]:
    """``'H100:8'``, ``'H100'`` (1 GPU), ``{'H100': 8}`` or ``['H100:8', 'A100:8']`` (candidates, one count)."""
    known = ", ".join(CATALOG)
    items: list[tuple[str, int]] = []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        value = [f"{k}:{v}" for k, v in value.items()]
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"expected 'H100:8', {{H100: 8}} or a list of candidates such as ['H100:8', 'H200:8'], got {value!r}"
        )
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected 'NAME:COUNT' such as 'H100:8', got {item!r}")
        name, _, count = item.partition(":")
        name = name.strip()
        match = next((k for k in CATALOG if k.lower() == name.lower()), None)
        if match is None:
            raise ValueError(f"unknown accelerator {name!r}; known: {known}")
        try:
            n = int(count) if count.strip() else 1
        except ValueError:
            raise ValueError(f"GPU count in {item!r} must be a whole number 1-16") from None
        if not 1 <= n <= 16:
            raise ValueError(f"GPU count per node in {item!r} must be 1-16, got {n}")
        items.append((match, n))
    counts = {n for _, n in items}
    if len(counts) > 1:
        raise ValueError(f"candidate accelerators must ask for the same count per node, got {value!r}")
    return tuple(dict.fromkeys(n for n, _ in items)), counts.pop()


def _plus_number(value: Any, field: str) -> float:
    """SkyPilot writes ``cpus: 32+`` for "at least 32"; Hexagrid reads it as 32."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number such as 32 or '32+', got {value!r}")
    if isinstance(value, int | float):
        v = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\+?\s*", value):
        v = float(value.strip().rstrip("+"))
    else:
        raise ValueError(f"{field}: expected a number such as 32 or '32+', got {value!r}")
    if v < 0:
        raise ValueError(f"{field}: must be >= 0, got {value!r}")
    return v


class _ResourcesDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accelerators: Any = None
    cpus: Any = None
    memory: Any = None
    min_gpu_memory_gb: float | None = Field(default=None, ge=0, le=4096)


class _CheckpointDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval: Any = None
    signal: Literal["SIGTERM", "SIGUSR1"] = "SIGTERM"


class _Doc(BaseModel):
    """The native document as written: SkyPilot's task fields plus Hexagrid's own."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    resources: _ResourcesDoc
    num_nodes: int = Field(default=1, ge=1, le=100_000)
    envs: dict[str, Any] = Field(default_factory=dict)
    setup: str | None = None
    run: str | None = None
    workdir: str | None = None
    kind: JobKind = JobKind.TRAINING
    residency: Any = None
    sovereignty: SovereigntyTier = SovereigntyTier.STANDARD
    deadline: datetime | None = None
    objective: Objective = Objective.BALANCED
    preemptible: bool = False
    checkpoint: _CheckpointDoc | None = None
    expected_duration: Any = None
    walltime: Any = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    project: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    max_price_eur_per_gpu_h: float | None = Field(default=None, ge=0, le=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(
                f"must be 1-128 characters of letters, digits, '_', '.', '-' (starting with a letter or digit), got {v!r}"
            )
        return v


class JobRequest(BaseModel):
    """A validated job request: the scheduling part (``resources`` ...) and the execution part (``run`` ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    kind: JobKind = JobKind.TRAINING
    resources: Resources
    envs: dict[str, str] = Field(default_factory=dict)
    setup: str | None = None
    run: str = ""
    residency: Residency = Field(default_factory=lambda: Residency(scope="ANY"))
    min_tier: SovereigntyTier = SovereigntyTier.STANDARD
    deadline_s: float | None = None
    objective: Objective = Objective.BALANCED
    preemptible: bool = False
    checkpoint_interval_s: float | None = None
    checkpoint_signal: Literal["SIGTERM", "SIGUSR1"] | None = None
    expected_duration_s: float = DEFAULT_EXPECTED_DURATION_S
    walltime_s: float | None = None
    priority: int = 0
    project: str | None = None
    max_price_eur_per_gpu_h: float | None = None
    source_format: Literal["yaml", "json", "sbatch"] = "yaml"
    partition: str | None = None

    @property
    def is_service(self) -> bool:
        """Inference jobs are services: they run until cancelled and are restarted on failure."""
        return self.kind is JobKind.INFERENCE

    def to_jobspec(self, *, job_id: str, tenant: str, submit_s: float) -> JobSpec:
        """The scheduler's view of this request."""
        deadline = self.deadline_s if self.deadline_s is not None and self.deadline_s > submit_s else None
        return JobSpec(
            id=job_id,
            name=self.name,
            tenant=tenant,
            project=self.project,
            kind=self.kind,
            resources=self.resources,
            submit_s=submit_s,
            expected_duration_s=self.expected_duration_s,
            walltime_s=self.walltime_s,
            residency=self.residency,
            min_tier=self.min_tier,
            deadline_s=deadline,
            max_price_eur_per_gpu_h=self.max_price_eur_per_gpu_h,
            objective=self.objective,
            preemptible=self.preemptible,
            checkpoint_interval_s=self.checkpoint_interval_s,
            priority=self.priority,
        )


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def parse_document(doc: Any, source: str = "request", *, source_format: str = "yaml") -> JobRequest:
    """Validate a native job document (a dict from YAML or JSON); all field errors at once."""
    if not isinstance(doc, dict):
        raise ValidationFailed(
            source,
            [FieldError("", f"a job spec is a mapping with at least 'resources' and 'run', got {type(doc).__name__}")],
        )
    try:
        d = _Doc.model_validate(doc)
    except ValidationError as exc:
        errs = []
        for e in exc.errors():
            loc = _loc(e["loc"])
            if e["type"] == "extra_forbidden":
                msg = f"unknown field {loc.split('.')[-1]!r}"
            else:
                msg = (
                    f"{e['msg']}, got {e.get('input')!r}"
                    if "input" in e and not isinstance(e.get("input"), dict)
                    else e["msg"]
                )
            errs.append(FieldError(loc, msg))
        raise ValidationFailed(source, errs) from None
    errors: list[FieldError] = []

    def attempt(path: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ValueError as exc:
            msg = str(exc)
            prefix = f"{path}: "
            errors.append(FieldError(path, msg[len(prefix) :] if msg.startswith(prefix) else msg))
            return None

    accs: tuple[str, ...] = ()
    per_node = 1
    if d.resources.accelerators is None:
        errors.append(FieldError("resources.accelerators", "required: the GPUs per node such as 'H100:8'"))
    else:
        got = attempt("resources.accelerators", _parse_accelerators, d.resources.accelerators)
        if got:
            accs, per_node = got
    cpus = (
        attempt("resources.cpus", _plus_number, d.resources.cpus, "resources.cpus")
        if d.resources.cpus is not None
        else 0
    )
    mem = (
        attempt("resources.memory", _plus_number, d.resources.memory, "resources.memory")
        if d.resources.memory is not None
        else 0
    )
    expected = (
        attempt("expected_duration", parse_duration_s, d.expected_duration, "expected_duration")
        if d.expected_duration is not None
        else None
    )
    walltime = attempt("walltime", parse_duration_s, d.walltime, "walltime") if d.walltime is not None else None
    interval = None
    if d.checkpoint is not None and d.checkpoint.interval is not None:
        interval = attempt("checkpoint.interval", parse_duration_s, d.checkpoint.interval, "checkpoint.interval")
    residency = Residency(scope="ANY")
    if d.residency is not None:
        try:
            residency = (
                Residency.parse(d.residency)
                if isinstance(d.residency, str | list)
                else Residency.model_validate(d.residency)
            )
        except (ValidationError, ValueError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            errors.append(FieldError("residency", f"{msg.removeprefix('Value error, ')}; got {d.residency!r}"))
    envs: dict[str, str] = {}
    for k, v in d.envs.items():
        if not _ENV.match(str(k)):
            errors.append(
                FieldError(
                    f"envs.{k}", "environment variable names are letters, digits and '_', not starting with a digit"
                )
            )
        elif isinstance(v, dict | list):
            errors.append(FieldError(f"envs.{k}", f"values are strings or numbers, got {v!r}"))
        else:
            envs[str(k)] = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    if not (d.run or "").strip():
        errors.append(FieldError("run", "required: the shell commands to run (a non-empty string)"))
    if d.deadline is not None and d.deadline.tzinfo is None:
        d.deadline = d.deadline.replace(tzinfo=UTC)
    if errors:
        raise ValidationFailed(source, errors)
    if expected is None:
        expected = (
            walltime
            if walltime is not None
            else (SERVICE_EXPECTED_DURATION_S if d.kind is JobKind.INFERENCE else DEFAULT_EXPECTED_DURATION_S)
        )
    if walltime is not None and walltime < expected:
        raise ValidationFailed(
            source, [FieldError("walltime", f"must be >= expected_duration ({expected:g} s), got {walltime:g} s")]
        )
    try:
        resources = Resources(
            accelerators=accs,
            num_nodes=d.num_nodes,
            gpus_per_node=per_node,
            gpus=d.num_nodes * per_node,
            cpus=int(cpus or 0),
            memory_gb=float(mem or 0),
            min_gpu_memory_gb=d.resources.min_gpu_memory_gb or 0,
        )
    except ValidationError as exc:
        raise ValidationFailed(
            source, [FieldError("resources", e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        ) from None
    return JobRequest(
        name=d.name or "",
        kind=d.kind,
        resources=resources,
        envs=envs,
        setup=d.setup,
        run=d.run or "",
        residency=residency,
        min_tier=d.sovereignty,
        deadline_s=d.deadline.timestamp() if d.deadline is not None else None,
        objective=d.objective,
        preemptible=d.preemptible,
        checkpoint_interval_s=interval,
        checkpoint_signal=d.checkpoint.signal if d.checkpoint is not None else None,
        expected_duration_s=expected,
        walltime_s=walltime,
        priority=d.priority,
        project=d.project,
        max_price_eur_per_gpu_h=d.max_price_eur_per_gpu_h,
        source_format=source_format,
    )
