"""The scheduler client (blocking): subscribe, read events, make calls.

    with Scheduler("127.0.0.1:5050", {"name": "hello"}) as sched:
        for event in sched.events():
            ...

``events()`` yields the master's events as dicts in Mesos's JSON mapping (HEARTBEATs
are consumed). It subscribes, follows redirects to the leader, retries 503s, and
whenever the stream breaks (closed, corrupt RecordIO, silent for ``missed_heartbeats``
heartbeat intervals, master restarted) re-subscribes with the framework id after a
jittered backoff, yielding the new SUBSCRIBED. ERROR events raise
:class:`~ratufa.errors.MasterError`; 4xx answers raise :class:`~ratufa.errors.HTTPError`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator, List, Optional

import httpx

from ._base import SchedulerBase
from ._json import Json
from ._methods import handler_method
from ._session import JSON, Backoff, CallAttempts, SubscribeHops, TryNext
from ._watchdog import Watchdog, stream_socket
from .errors import NoLeaderError, RatufaError, RecordIOError, StreamClosed
from .recordio import Decoder

log = logging.getLogger("ratufa.scheduler")

def decode_event(record: bytes) -> Json:
    """One RecordIO record as an event; RecordIOError if it is not a JSON object."""
    try:
        event = json.loads(record)
    except ValueError as e:
        raise RecordIOError(f"a record is not JSON: {e}") from e
    if not isinstance(event, dict):
        raise RecordIOError(f"a record is not a JSON object: {record[:64]!r}")
    return event


def read_events(chunks: Iterator[bytes], max_record_bytes: int) -> Iterator[Json]:
    """The events in a RecordIO byte stream; StreamClosed when it ends."""
    decoder = Decoder(max_record_bytes)
    for chunk in chunks:
        for record in decoder.feed(chunk):
            yield decode_event(record)
        if decoder.error is not None:
            raise decoder.error
    raise StreamClosed("the stream ended mid-record" if decoder.in_record else "the stream ended")


class Scheduler(SchedulerBase[None]):
    """A framework's connection to the masters, with blocking I/O on httpx; the
    parameters are those of :class:`ratufa._base.SchedulerBase`."""

    _client: httpx.Client
    _response: Optional[httpx.Response] = None

    def _open_client(self, auth: Optional[httpx.Auth]) -> None:
        self._client = httpx.Client(
            auth=auth, follow_redirects=False, timeout=self._request_timeout, verify=self._tls or True
        )

    def close(self) -> None:
        """Stops and releases the connections."""
        self._stopped = True
        if self._response is not None:
            self._response.close()
        self._client.close()
        self._release_zk()

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the event stream -----------------------------------------------------------

    def events(self) -> Iterator[Json]:
        """The events of the subscription, across reconnections, until :meth:`stop`,
        :meth:`teardown`, an ERROR event (MasterError) or no master for
        ``reconnect_timeout`` (NoLeaderError)."""
        try:
            yield from self._events()
        finally:
            self._release_zk()

    def _events(self) -> Iterator[Json]:
        backoff = Backoff(cap=self._backoff_max)
        while not self._stopped:
            try:
                response = self._subscribe()
            except StreamClosed:
                return  # stopped while no master took the subscription
            self._response = response
            self._session.on_stream_open(response.headers.get("Mesos-Stream-Id"))
            self._broken = False
            chunks = response.iter_raw()
            sock = stream_socket(response)
            watchdog = None if sock is None else Watchdog(sock, self._session.silence_allowed())
            if watchdog is not None:
                chunks = watchdog.watch(chunks)
            leader_watch = self._follow_leader(response)
            try:
                for event in read_events(chunks, self._max_record):
                    self._session.on_event(event)
                    kind = event.get("type")
                    if kind == "SUBSCRIBED":
                        backoff.reset()
                        if watchdog is not None:
                            watchdog.set_allowance(self._session.silence_allowed())
                    elif kind == "HEARTBEAT":
                        continue
                    elif kind == "UPDATE" and self._auto_ack:
                        self._acknowledge_or_reconnect(event)
                    yield event
                    if self._stopped:
                        return
                    if self._broken:
                        raise StreamClosed("a call found the master unreachable")
            except (StreamClosed, RecordIOError, httpx.TransportError) as e:
                if self._stopped:
                    return
                if watchdog is not None and watchdog.fired:
                    e = StreamClosed(f"no heartbeat for {self._session.silence_allowed()}s")
                if leader_watch is not None and leader_watch.reason is not None:
                    e = StreamClosed(leader_watch.reason)
                self._reconnect_reason = str(e)
                log.warning("event stream lost; re-subscribing", extra={"why": str(e)})
            finally:
                if watchdog is not None:
                    watchdog.stop()
                if leader_watch is not None:
                    leader_watch.stop()
                response.close()
                self._response = None
                self._session.on_disconnect()
            time.sleep(backoff.next_delay())

    def run(self, handler: object) -> None:
        """Calls ``handler.on_<event type>(scheduler, event)`` for each event (e.g.
        ``on_subscribed``, ``on_offers``, ``on_update``, ``on_message``,
        ``on_failure``, ``on_rescind``); events without a method are dropped. Returns
        when a callback calls :meth:`stop` or :meth:`teardown`."""
        for event in self.events():
            callback = handler_method(handler, event)
            if callback is not None:
                callback(self, event)

    def _acknowledge_or_reconnect(self, event: Json) -> None:
        try:
            self.acknowledge_update(event.get("update", {}).get("status", {}))
        except NoLeaderError as e:
            # The master went away between the update and its acknowledgement: the
            # agent resends the update to the next subscription.
            raise StreamClosed(str(e)) from e

    # --- HTTP ---------------------------------------------------------------------------

    def _candidates(self) -> List[str]:
        if self._masters.zk is not None:
            return self._zk_candidates()
        return self._listed_masters()

    def _subscribe(self) -> httpx.Response:
        deadline = None if self._reconnect_timeout is None else time.monotonic() + self._reconnect_timeout
        backoff = Backoff(cap=self._backoff_max)
        while True:
            failures = []
            try:
                candidates = self._candidates()
            except RatufaError as e:
                candidates, failures = [], [str(e)]
            for base in candidates:
                try:
                    return self._open_stream(base)
                except TryNext as e:
                    failures.append(str(e))
            if self._stopped:
                raise StreamClosed("stopped")
            if deadline is not None and time.monotonic() > deadline:
                raise NoLeaderError("no master accepted SUBSCRIBE: " + "; ".join(failures))
            log.info("no master accepted SUBSCRIBE yet", extra={"why": failures})
            time.sleep(backoff.next_delay())

    def _open_stream(self, base: str) -> httpx.Response:
        call = self._session.subscribe_call(self._suppressed_roles)
        timeout = httpx.Timeout(self._request_timeout, read=self._session.silence_allowed())
        hops = SubscribeHops(base)
        while True:
            request = self._client.build_request("POST", hops.url, json=call, headers={"Accept": JSON}, timeout=timeout)
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as e:
                raise hops.unreachable(e) from e
            if response.status_code == 200:
                self._leader = hops.base
                return response
            try:
                body = response.read().decode("utf-8", "replace")
            except httpx.TransportError:
                body = ""
            finally:
                response.close()
            hops.refused(response.status_code, response.headers.get("Location"), body)

    def _send(self, call: Json) -> None:
        """POSTs a call to the leader: follows 307, retries 503 until request_timeout;
        any other failure (4xx, 500, 501) → HTTPError. A call no master takes is
        dropped with a warning and the stream re-subscribed (Mesos's library drops
        calls while disconnected)."""
        attempts = CallAttempts(self._leader or self._candidates()[0], self._request_timeout)
        headers = {"Accept": JSON}
        if self._session.stream_id:
            headers["Mesos-Stream-Id"] = self._session.stream_id
        while True:
            try:
                response = self._client.post(attempts.url, json=call, headers=headers)
            except httpx.TransportError as e:
                # As Mesos's scheduler library: a call made while the master is out
                # of reach is dropped (offers die with the connection; updates are
                # resent), and the stream is re-subscribed.
                log.warning("call dropped: master unreachable", extra={"call": call["type"], "why": repr(e)})
                self._broken = True
                return
            wait = attempts.answered(call, response.status_code, response.headers.get("Location"), response.text)
            if wait is None:
                self._broken = self._broken or response.status_code == 503
                return
            time.sleep(wait)
