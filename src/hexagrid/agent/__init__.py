"""The provider agent: one command on a GPU node joins it to the federation.

It detects (NVML) or is told (``--accelerator --gpus``) what GPUs the node has, registers the node with
the control plane, offers it inside its availability windows, runs assigned jobs in their own process
groups, streams their logs, reports power, and survives server restarts and its own. The wire protocol
is docs/agent-protocol.md; usage is docs/agent.md.
"""

from hexagrid.agent.agent import Agent, Backoff
from hexagrid.agent.client import AgentClient, Assignment, NodeUnknown, ServerRejected, ServerUnavailable, StopOrder
from hexagrid.agent.config import CLOCK_OFFSET_ENV, AgentConfig, build_config, local_timezone, window_clock
from hexagrid.agent.gpus import (
    NO_GPU_MESSAGE,
    DetectedGpus,
    GpuReading,
    NvmlReader,
    accelerator_from_nvml_name,
    declared_gpus,
    detect_gpus,
)
from hexagrid.agent.runner import JobRunner, group_members, live_groups, read_chunk
from hexagrid.agent.state import AgentState, JobRecord, StateStore
from hexagrid.agent.telemetry import estimated_utilisation, telemetry

__all__ = [
    "CLOCK_OFFSET_ENV",
    "NO_GPU_MESSAGE",
    "Agent",
    "AgentClient",
    "AgentConfig",
    "AgentState",
    "Assignment",
    "Backoff",
    "DetectedGpus",
    "GpuReading",
    "JobRecord",
    "JobRunner",
    "NodeUnknown",
    "NvmlReader",
    "ServerRejected",
    "ServerUnavailable",
    "StateStore",
    "StopOrder",
    "accelerator_from_nvml_name",
    "build_config",
    "declared_gpus",
    "detect_gpus",
    "estimated_utilisation",
    "group_members",
    "live_groups",
    "local_timezone",
    "read_chunk",
    "telemetry",
    "window_clock",
]
