"""Where decisions execute. A backend turns a scheduler ``Start`` into work on real machines.

``AgentPullBackend``: nodes run the provider agent and long-poll the server; a start becomes one
assignment row per node (with the GPU indices it may use), which the agent picks up.
"""

from hexagrid.backends.agent_pull import AgentPullBackend
from hexagrid.backends.base import Backend

__all__ = ["AgentPullBackend", "Backend"]
