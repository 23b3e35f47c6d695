"""The executor client: a custom executor on the agent's ``/api/v1/executor``.

The agent starts an executor with its coordinates in MESOS_* variables;
:class:`Executor` reads them, subscribes, and yields the agent's events::

    executor = Executor()            # from os.environ
    for event in executor.events():
        if event["type"] == "LAUNCH":
            task = event["launch"]["task"]
            executor.update(task["task_id"], "TASK_RUNNING")
            ...
            executor.update(task["task_id"], "TASK_FINISHED")

Every UPDATE carries a fresh uuid and is kept until the agent's ACKNOWLEDGED; a task
is kept until one of its updates is acknowledged. When the connection to the agent
breaks (the agent restarted), a checkpointing framework's executor re-subscribes with
both lists, with random backoff up to MESOS_SUBSCRIPTION_BACKOFF_MAX, for at most
MESOS_RECOVERY_TIMEOUT; without checkpointing it ends, as Mesos's executors do.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, List, Mapping, Optional, Union

import httpx

from ._json import IdLike, Json, encode_bytes, fresh_uuid, id_message
from ._methods import handler_method
from ._session import EXECUTOR_PATH, JSON, base_url
from .errors import AgentError, HTTPError, RecordIOError, StreamClosed, ValidationError
from .scheduler import read_events
from .tls import context_from_env

log = logging.getLogger("ratufa.executor")

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|ms|secs|mins|hrs|days|weeks)\s*$")
_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0,
    "hrs": 3600.0, "days": 86400.0, "weeks": 604800.0,
}  # fmt: skip


def parse_duration(text: str, variable: str) -> float:
    """Seconds in a Mesos duration (``15mins``, ``2secs``, ``500ms``)."""
    m = _DURATION.match(text)
    if not m:
        raise ValidationError(f"{variable}: not a duration: {text!r} (e.g. 15mins, 2secs)")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


@dataclass
class ExecutorConfig:
    """What the agent tells an executor through its environment."""

    agent_endpoint: str
    framework_id: str
    executor_id: str
    checkpoint: bool = False
    recovery_timeout: float = 15 * 60.0
    backoff_max: float = 2.0
    sandbox: Optional[str] = None
    #: With TLS (LIBPROCESS_SSL_ENABLED, inherited from the agent): the agent is
    #: reached over https; MESOS_AGENT_ENDPOINT stays ``ip:port``, as in Mesos.
    tls: Optional[ssl.SSLContext] = None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "ExecutorConfig":
        env = os.environ if env is None else env
        missing = [
            v for v in ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID") if not env.get(v)
        ]
        if missing:
            raise ValidationError(f"not started by an agent: {', '.join(missing)} unset")
        return cls(
            agent_endpoint=env["MESOS_AGENT_ENDPOINT"],
            framework_id=env["MESOS_FRAMEWORK_ID"],
            executor_id=env["MESOS_EXECUTOR_ID"],
            checkpoint=env.get("MESOS_CHECKPOINT", "0") == "1",
            recovery_timeout=parse_duration(env.get("MESOS_RECOVERY_TIMEOUT", "15mins"), "MESOS_RECOVERY_TIMEOUT"),
            backoff_max=parse_duration(
                env.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"), "MESOS_SUBSCRIPTION_BACKOFF_MAX"
            ),
            sandbox=env.get("MESOS_SANDBOX") or env.get("MESOS_DIRECTORY"),
            tls=_agent_context(env["MESOS_AGENT_ENDPOINT"], env),
        )


def _agent_context(endpoint: str, env: Mapping[str, str]) -> Optional[ssl.SSLContext]:
    """The TLS context for the agent at ``endpoint``. On the loopback (where an agent
    bound to every interface is reached) only the authority is checked, as ratufa's
    own executors do: the agent's certificate names its host, not 127.0.0.1."""
    context = context_from_env(env)
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if context is not None and loopback:
        context.check_hostname = False
    return context


class Executor:
    """A custom executor's connection to its agent (blocking I/O on httpx)."""

    def __init__(self, config: Optional[ExecutorConfig] = None, *, request_timeout: float = 30.0) -> None:
        self.config = config or ExecutorConfig.from_env()
        scheme = "https" if self.config.tls else "http"
        self._url = base_url(self.config.agent_endpoint, scheme) + EXECUTOR_PATH
        self._client = httpx.Client(
            timeout=request_timeout, follow_redirects=False, verify=self.config.tls or True
        )
        self._request_timeout = request_timeout
        # uuid → Call.Update, in the order sent
        self._unacked_updates: "OrderedDict[str, Json]" = OrderedDict()
        # task id → TaskInfo
        self._unacked_tasks: "OrderedDict[str, Json]" = OrderedDict()
        self._stopped = False
        self.subscriptions = 0
        #: Called as ``on_disconnected(executor, why)`` once per loss of the agent,
        #: before re-subscribing (updates sent from it go with the next SUBSCRIBE).
        self.on_disconnected: Optional[Callable[["Executor", str], None]] = None

    def _ids(self) -> Json:
        return {
            "framework_id": {"value": self.config.framework_id},
            "executor_id": {"value": self.config.executor_id},
        }

    @property
    def unacknowledged_updates(self) -> List[Json]:
        return list(self._unacked_updates.values())

    @property
    def unacknowledged_tasks(self) -> List[Json]:
        return list(self._unacked_tasks.values())

    def stop(self) -> None:
        """Ends :meth:`events` / :meth:`run` after the current event."""
        self._stopped = True

    def close(self) -> None:
        self._stopped = True
        self._client.close()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls --------------------------------------------------------------------------

    def _post(self, call: Json) -> None:
        response = self._client.post(self._url, json=call, headers={"Accept": JSON})
        if 400 <= response.status_code < 500:
            raise HTTPError(response.status_code, response.text, self._url)
        if response.status_code not in (200, 202):
            raise StreamClosed(f"{call['type']}: {response.status_code} {response.text.strip()}")

    def update(
        self,
        task_id: IdLike,
        state: str,
        *,
        message: Optional[str] = None,
        reason: Optional[str] = None,
        data: Union[bytes, str, None] = None,
        healthy: Optional[bool] = None,
    ) -> str:
        """Sends a status update for ``task_id`` with a fresh uuid (returned, base64)
        and keeps it until the agent acknowledges it. If the agent is unreachable now
        the update goes with the next SUBSCRIBE."""
        if not state.startswith("TASK_") or state == "TASK_STAGING":
            raise ValidationError(f"state: {state!r} is not a state an executor may send")
        status: Json = {
            "task_id": id_message(task_id, "task_id"),
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "executor_id": {"value": self.config.executor_id},
            "uuid": fresh_uuid(),
            "timestamp": time.time(),
        }
        if message is not None:
            status["message"] = message
        if reason is not None:
            status["reason"] = reason
        if data is not None:
            status["data"] = encode_bytes(data)
        if healthy is not None:
            status["healthy"] = healthy
        update = {"status": status}
        self._unacked_updates[status["uuid"]] = update
        call = dict(self._ids(), type="UPDATE", update=update)
        try:
            self._post(call)
        except (httpx.TransportError, StreamClosed) as e:
            log.warning("UPDATE not delivered; resent on re-subscription", extra={"why": str(e)})
        return str(status["uuid"])

    def message(self, data: Union[bytes, str]) -> bool:
        """Sends a framework message to the scheduler. Best effort, as in Mesos: False
        (and a warning) when the agent cannot take it now; HTTPError when it refuses it."""
        try:
            self._post(dict(self._ids(), type="MESSAGE", message={"data": encode_bytes(data)}))
        except (httpx.TransportError, StreamClosed) as e:
            log.warning("MESSAGE not delivered", extra={"why": str(e)})
            return False
        return True

    # --- events ------------------------------------------------------------------------

    def _subscribe_call(self) -> Json:
        sub: Json = {}
        if self._unacked_tasks:
            sub["unacknowledged_tasks"] = self.unacknowledged_tasks
        if self._unacked_updates:
            sub["unacknowledged_updates"] = self.unacknowledged_updates
        return dict(self._ids(), type="SUBSCRIBE", subscribe=sub)

    def _on_event(self, event: Json) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            self.subscriptions += 1
        elif kind == "LAUNCH":
            task = event.get("launch", {}).get("task", {})
            self._unacked_tasks[task.get("task_id", {}).get("value", "")] = task
        elif kind == "LAUNCH_GROUP":
            group = event.get("launch_group", {}).get("task_group", {})
            for task in group.get("tasks", []):
                self._unacked_tasks[task.get("task_id", {}).get("value", "")] = task
        elif kind == "ACKNOWLEDGED":
            ack = event.get("acknowledged", {})
            self._unacked_updates.pop(ack.get("uuid", ""), None)
            self._unacked_tasks.pop(ack.get("task_id", {}).get("value", ""), None)
        elif kind == "ERROR":
            raise AgentError(str(event.get("error", {}).get("message", "")))
        elif kind == "SHUTDOWN":
            self._stopped = True

    def events(self) -> Iterator[Json]:
        """The agent's events (HEARTBEATs consumed), across re-subscriptions, until
        SHUTDOWN (yielded last) or :meth:`stop`. StreamClosed when the agent stays
        away longer than the recovery timeout, or at once without checkpointing."""
        lost_at: Optional[float] = None
        while not self._stopped:
            try:
                request = self._client.build_request(
                    "POST", self._url, json=self._subscribe_call(), headers={"Accept": JSON},
                    timeout=httpx.Timeout(self._request_timeout, read=None),
                )
                response = self._client.send(request, stream=True)
            except httpx.TransportError as e:
                lost_at = self._wait_to_resubscribe(lost_at, e)
                continue
            try:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace")
                    if 400 <= response.status_code < 500:
                        raise HTTPError(response.status_code, body, self._url)
                    raise StreamClosed(f"SUBSCRIBE: {response.status_code} {body.strip()}")
                for event in read_events(response.iter_raw(), 64 * 1024 * 1024):
                    self._on_event(event)
                    if event.get("type") == "SUBSCRIBED":
                        lost_at = None
                    if event.get("type") == "HEARTBEAT":
                        continue
                    yield event
                    if self._stopped:
                        return
            except (StreamClosed, RecordIOError, httpx.TransportError) as e:
                if self._stopped:
                    return
                lost_at = self._wait_to_resubscribe(lost_at, e)
            finally:
                response.close()

    def _wait_to_resubscribe(self, lost_at: Optional[float], why: Exception) -> float:
        now = time.monotonic()
        if lost_at is None:
            lost_at = now
            if self.on_disconnected is not None:
                self.on_disconnected(self, str(why))
        if not self.config.checkpoint:
            raise StreamClosed(f"lost the agent and the framework does not checkpoint: {why}")
        if now - lost_at > self.config.recovery_timeout:
            raise StreamClosed(f"the agent stayed away longer than the recovery timeout: {why}")
        log.info("agent connection lost; re-subscribing", extra={"why": str(why)})
        time.sleep(random.uniform(0, self.config.backoff_max))
        return lost_at

    def run(self, handler: object) -> None:
        """Calls ``handler.on_<event type>(executor, event)``: ``on_subscribed``,
        ``on_launch``, ``on_launch_group``, ``on_kill``, ``on_acknowledged``,
        ``on_message``, ``on_shutdown``, and ``on_disconnected(executor, why)`` when
        the agent is lost; returns after SHUTDOWN or :meth:`stop`."""
        hook = getattr(handler, "on_disconnected", None)
        if hook is not None:
            self.on_disconnected = hook
        for event in self.events():
            callback = handler_method(handler, event)
            if callback is not None:
                callback(self, event)

