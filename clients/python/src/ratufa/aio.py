"""The scheduler client for asyncio: :class:`AsyncScheduler` behaves as
:class:`ratufa.Scheduler` with ``async for`` events and awaitable calls.

    async with AsyncScheduler("127.0.0.1:5050", {"name": "hello"}) as sched:
        async for event in sched.events():
            if event["type"] == "OFFERS":
                await sched.decline(event["offers"]["offers"])
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import AsyncIterator, Awaitable, List, Optional

import httpx

from ._base import SchedulerBase
from ._json import Json
from ._methods import handler_method
from ._session import JSON, Backoff, CallAttempts, SchedulerSession, SubscribeHops, TryNext
from .errors import NoLeaderError, RatufaError, RecordIOError, StreamClosed
from .recordio import Decoder
from .scheduler import decode_event

log = logging.getLogger("ratufa.aio")


async def read_events(
    chunks: AsyncIterator[bytes], max_record_bytes: int, session: SchedulerSession
) -> AsyncIterator[Json]:
    """The events in a RecordIO byte stream; StreamClosed when it ends or stays silent
    longer than the session allows (its heartbeat interval × missed heartbeats)."""
    decoder = Decoder(max_record_bytes)
    while True:
        allowance = session.silence_allowed()
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), allowance)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise StreamClosed(f"no heartbeat for {allowance}s") from None
        for record in decoder.feed(chunk):
            yield decode_event(record)
        if decoder.error is not None:
            raise decoder.error
    raise StreamClosed("the stream ended mid-record" if decoder.in_record else "the stream ended")


class AsyncScheduler(SchedulerBase[Awaitable[None]]):
    """A framework's connection to the masters on asyncio; the parameters are those
    of :class:`ratufa._base.SchedulerBase`."""

    _client: httpx.AsyncClient

    def _open_client(self, auth: Optional[httpx.Auth]) -> None:
        self._client = httpx.AsyncClient(
            auth=auth, follow_redirects=False, timeout=self._request_timeout, verify=self._tls or True
        )

    async def aclose(self) -> None:
        self._stopped = True
        await self._client.aclose()
        await asyncio.to_thread(self._release_zk)

    async def __aenter__(self) -> "AsyncScheduler":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def events(self) -> AsyncIterator[Json]:
        """As :meth:`ratufa.Scheduler.events`."""
        try:
            async for event in self._events():
                yield event
        finally:
            await asyncio.to_thread(self._release_zk)

    async def _events(self) -> AsyncIterator[Json]:
        backoff = Backoff(cap=self._backoff_max)
        while not self._stopped:
            try:
                response = await self._subscribe()
            except StreamClosed:
                return  # stopped while no master took the subscription
            self._session.on_stream_open(response.headers.get("Mesos-Stream-Id"))
            self._broken = False
            leader_watch = await asyncio.to_thread(self._follow_leader, response)
            try:
                async for event in read_events(response.aiter_raw(), self._max_record, self._session):
                    self._session.on_event(event)
                    kind = event.get("type")
                    if kind == "SUBSCRIBED":
                        backoff.reset()
                    elif kind == "HEARTBEAT":
                        continue
                    elif kind == "UPDATE" and self._auto_ack:
                        await self._acknowledge_or_reconnect(event)
                    yield event
                    if self._stopped:
                        return
                    if self._broken:
                        raise StreamClosed("a call found the master unreachable")
            except (StreamClosed, RecordIOError, httpx.TransportError) as e:
                if self._stopped:
                    return
                if leader_watch is not None and leader_watch.reason is not None:
                    e = StreamClosed(leader_watch.reason)
                self._reconnect_reason = str(e)
                log.warning("event stream lost; re-subscribing", extra={"why": str(e)})
            finally:
                if leader_watch is not None:
                    await asyncio.to_thread(leader_watch.stop)
                await response.aclose()
                self._session.on_disconnect()
            await asyncio.sleep(backoff.next_delay())

    async def run(self, handler: object) -> None:
        """As :meth:`ratufa.Scheduler.run`; callbacks may be plain or ``async def``."""
        async for event in self.events():
            callback = handler_method(handler, event)
            if callback is not None:
                result = callback(self, event)
                if inspect.isawaitable(result):
                    await result

    async def _acknowledge_or_reconnect(self, event: Json) -> None:
        try:
            pending = self.acknowledge_update(event.get("update", {}).get("status", {}))
            if pending is not None:
                await pending
        except NoLeaderError as e:
            raise StreamClosed(str(e)) from e

    async def _candidates(self) -> List[str]:
        if self._masters.zk is not None:
            return await asyncio.to_thread(self._zk_candidates)
        return self._listed_masters()

    async def _subscribe(self) -> httpx.Response:
        deadline = None if self._reconnect_timeout is None else time.monotonic() + self._reconnect_timeout
        backoff = Backoff(cap=self._backoff_max)
        while True:
            failures = []
            try:
                candidates = await self._candidates()
            except RatufaError as e:
                candidates, failures = [], [str(e)]
            for base in candidates:
                try:
                    return await self._open_stream(base)
                except TryNext as e:
                    failures.append(str(e))
            if self._stopped:
                raise StreamClosed("stopped")
            if deadline is not None and time.monotonic() > deadline:
                raise NoLeaderError("no master accepted SUBSCRIBE: " + "; ".join(failures))
            await asyncio.sleep(backoff.next_delay())

    async def _open_stream(self, base: str) -> httpx.Response:
        call = self._session.subscribe_call(self._suppressed_roles)
        timeout = httpx.Timeout(self._request_timeout, read=self._session.silence_allowed())
        hops = SubscribeHops(base)
        while True:
            request = self._client.build_request("POST", hops.url, json=call, headers={"Accept": JSON}, timeout=timeout)
            try:
                response = await self._client.send(request, stream=True)
            except httpx.TransportError as e:
                raise hops.unreachable(e) from e
            if response.status_code == 200:
                self._leader = hops.base
                return response
            try:
                body = (await response.aread()).decode("utf-8", "replace")
            except httpx.TransportError:
                body = ""
            finally:
                await response.aclose()
            hops.refused(response.status_code, response.headers.get("Location"), body)

    def _send(self, call: Json) -> Awaitable[None]:
        return self._post(call)

    async def _post(self, call: Json) -> None:
        """As :meth:`ratufa.Scheduler._send`."""
        attempts = CallAttempts(self._leader or (await self._candidates())[0], self._request_timeout)
        headers = {"Accept": JSON}
        if self._session.stream_id:
            headers["Mesos-Stream-Id"] = self._session.stream_id
        while True:
            try:
                response = await self._client.post(attempts.url, json=call, headers=headers)
            except httpx.TransportError as e:
                log.warning("call dropped: master unreachable", extra={"call": call["type"], "why": repr(e)})
                self._broken = True
                return
            wait = attempts.answered(call, response.status_code, response.headers.get("Location"), response.text)
            if wait is None:
                self._broken = self._broken or response.status_code == 503
                return
            await asyncio.sleep(wait)
