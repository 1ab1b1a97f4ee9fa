"""What the scheduler says about each job in a pass: start, defer, preempt, or not now (with a reason)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar

__all__ = ["Decision", "Defer", "NotNow", "Preempt", "ReasonCode", "Start"]

_T = TypeVar("_T")


def _slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slots dataclass an ``__init__`` that stores each field through its slot's descriptor.

    The generated one calls ``object.__setattr__`` per field, about twice the cost; a pass makes one
    decision per queued job (100,000 on the scheduler bench). Same parameters, defaults and result;
    the class stays frozen (its ``__setattr__`` still refuses).
    """
    flds = fields(cls)  # type: ignore[arg-type]
    if any(f.default_factory is not MISSING for f in flds):
        raise TypeError(f"{cls.__name__}: a default_factory field needs the generated __init__")
    scope: dict[str, Any] = {f"_set_{f.name}": cls.__dict__[f.name].__set__ for f in flds}
    scope.update({f"_default_{f.name}": f.default for f in flds if f.default is not MISSING})
    params = ", ".join(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}" for f in flds)
    body = "".join(f"\n    _set_{f.name}(self, {f.name})" for f in flds)
    made: dict[str, Any] = {}
    exec(f"def __init__(self, {params}) -> None:{body}", scope, made)  # source code, as dataclasses makes its own
    init = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


class ReasonCode(StrEnum):
    """Machine-readable reasons; each decision also carries a sentence for people."""

    # hard rules that make a pool ineligible
    ACCELERATOR = "accelerator"  # no accepted accelerator / not enough GPU memory
    GANG_SHAPE = "gang_shape"  # the job's node shape cannot fit the pool at all
    RESIDENCY = "residency"
    SOVEREIGNTY = "sovereignty"
    ACCESS = "access"  # tenant class not admitted (public supercomputers: academic only)
    ALLOCATION = "allocation"  # no GPU-hours left on the project's allocation at a public site
    OFFLINE = "offline"  # site not online at now
    WINDOW = "window"  # idle-capacity window closed, or closes before a non-preemptible job ends
    PRICE = "price"  # above the job's max price
    LATENCY = "latency"  # inference: the site is too far from the users for the latency target
    # transient: eligible somewhere, but not now
    CAPACITY = "capacity"  # not enough free GPUs / nodes
    POWER_ENVELOPE = "power_envelope"  # free GPUs, but the site's MW are not
    TENANT_CAP = "tenant_cap"  # tenant at its GPU cap
    BUDGET = "budget"
    RESERVATION = "reservation"  # held behind another job's backfill reservation
    CARBON_DEFERRAL = "carbon_deferral"
    PREEMPTION_PENDING = "preemption_pending"  # waiting for victims to stop
    UNKNOWN_TENANT = "unknown_tenant"
    # reasons for preempting a running job
    WINDOW_CLOSING = "window_closing"
    HIGHER_PRIORITY = "higher_priority"


@_slot_init
@dataclass(frozen=True, slots=True)
class Start:
    """Start ``job_id`` now on ``nodes`` nodes of pool ``pool_id`` at ``site_id``, ``gpus_per_node`` GPUs each."""

    job_id: str
    site_id: str
    pool_id: str
    nodes: int
    gpus_per_node: int
    message: str = ""
    node_indices: tuple[int, ...] = ()  # which nodes of the pool (0-based), when the state tracks nodes

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@_slot_init
@dataclass(frozen=True, slots=True)
class Defer:
    """Hold ``job_id`` until ``until_s`` (POSIX s) although it could start now: a greener window is coming."""

    job_id: str
    until_s: float
    reason: ReasonCode
    message: str


@_slot_init
@dataclass(frozen=True, slots=True)
class Preempt:
    """Stop running job ``job_id`` (it goes back to the queue) to make room or to honour a window."""

    job_id: str
    reason: ReasonCode
    message: str
    for_job_id: str | None = None


@_slot_init
@dataclass(frozen=True, slots=True)
class NotNow:
    """``job_id`` cannot start in this pass; ``reason`` is the binding rule, ``message`` a sentence."""

    job_id: str
    reason: ReasonCode
    message: str
    reserved_start_s: float | None = None


Decision = Start | Defer | Preempt | NotNow
