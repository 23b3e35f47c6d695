"""ratufa: Python clients for the Mesos v1 HTTP API, as served by ratufa and Apache Mesos.

- :class:`Scheduler` / :class:`AsyncScheduler`: a framework's scheduler (events,
  calls, reconnection, acknowledgements).
- :class:`Executor`: a custom executor on the agent's executor API.
- :mod:`ratufa.resources`: resource arithmetic, first-fit packing, port picking, task
  and executor builders.
"""

from .aio import AsyncScheduler
from .errors import (
    AgentError,
    HTTPError,
    MasterError,
    NoLeaderError,
    RatufaError,
    RecordIOError,
    StreamClosed,
    ValidationError,
)
from .executor import Executor
from .framework import FrameworkInfo
from .resources import Resources
from .scheduler import Scheduler
from .tasks import command_task, executor_info, first_fit, is_terminal, pick_ports

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "AsyncScheduler",
    "Executor",
    "FrameworkInfo",
    "HTTPError",
    "MasterError",
    "NoLeaderError",
    "RatufaError",
    "RecordIOError",
    "Resources",
    "Scheduler",
    "StreamClosed",
    "ValidationError",
    "command_task",
    "executor_info",
    "first_fit",
    "is_terminal",
    "pick_ports",
]
