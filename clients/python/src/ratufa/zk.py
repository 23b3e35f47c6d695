"""Finding the leading master in ZooKeeper (``pip install ratufa[zk]``, kazoo).

Each master holds an ephemeral sequential node ``<path>/json.info_<seq>`` with its
MasterInfo as JSON; the leader is the one with the lowest sequence number.

A process holds one ZooKeeper session per ensemble (hosts and credentials of a zk://
URL), whoever uses it: detection and every stream's leader watch share it
(:class:`ZkClient`), and it is closed when the last of them is done.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .errors import NoLeaderError, ValidationError

log = logging.getLogger("ratufa.zk")

_SEQUENCED = re.compile(r"_(\d+)$")


def parse_zk_url(url: str) -> Tuple[str, str, Optional[str]]:
    """``zk://[user:pass@]h1:p1,h2:p2/path`` → (hosts, path, "user:pass" or None)."""
    parts = urlsplit(url)
    if parts.scheme != "zk" or not parts.netloc or not parts.path or parts.path == "/":
        raise ValidationError(f"not a ZooKeeper URL: {url!r} (want zk://host:port/path)")
    auth, _, hosts = parts.netloc.rpartition("@")
    return hosts, parts.path.rstrip("/"), auth or None


def leader_node(children: List[str]) -> Optional[str]:
    """The child with the lowest sequence among ``json.info_<seq>`` ones (other
    labels with a sequence count too, but only JSON ones can be read)."""
    sequenced = [(int(m.group(1)), c) for c in children if (m := _SEQUENCED.search(c))]
    json_nodes = [(seq, c) for seq, c in sequenced if c.startswith("json.info_")]
    if not sequenced:
        return None
    lowest = min(sequenced)
    if lowest not in json_nodes:
        return None
    return lowest[1]


def master_address(info: Dict[str, Any], scheme: str = "http") -> str:
    """``scheme://host:port`` of a MasterInfo (which carries no scheme): its address
    (ip, then hostname), else hostname and port."""
    address = info.get("address") or {}
    host = address.get("ip") or address.get("hostname") or info.get("hostname")
    port = address.get("port") or info.get("port")
    if not host or not port:
        raise NoLeaderError(f"the leader's MasterInfo has no address: {info!r}")
    return f"{scheme}://{host}:{port}"


def _connect(url: str, hosts: str, auth: Optional[str], timeout: float) -> Any:
    """A started KazooClient for the ensemble of ``url``."""
    try:
        from kazoo.client import KazooClient
    except ImportError as e:
        raise ValidationError("zk:// masters need kazoo: pip install 'ratufa[zk]'") from e
    client = KazooClient(
        hosts=hosts,
        timeout=timeout,
        auth_data=[("digest", auth)] if auth else None,
    )
    try:
        client.start(timeout=timeout)
    except Exception as e:  # kazoo raises its own hierarchy and timeouts
        _close(client)
        raise NoLeaderError(f"ZooKeeper {url}: {e!r}") from e
    return client


class _Shared:
    """One ensemble's client (None while its first user connects) and how many
    :class:`ZkClient` hold it or wait for it. ``ready`` is set once the connect has
    ended, with ``client`` or ``error``."""

    def __init__(self) -> None:
        self.client: Any = None
        self.error: Optional[BaseException] = None
        self.ready = threading.Event()
        self.users = 0


#: The process's clients, by ensemble (hosts, credentials). The lock guards only this
#: table and the entries' counts: a connect (up to its timeout while an ensemble is
#: unreachable) happens outside it, so users of other ensembles never wait for it.
_shared: Dict[Tuple[str, Optional[str]], _Shared] = {}
_shared_lock = threading.Lock()


def shared_sessions() -> int:
    """How many ZooKeeper sessions this process holds open (one per ensemble in use;
    a connect still under way is not one yet)."""
    with _shared_lock:
        return sum(1 for entry in _shared.values() if entry.client is not None)


class ZkClient:
    """One user's hold on the process's shared client for the ensemble of a zk://
    URL (started by the first user; users arriving while it connects wait for that
    same attempt and share its outcome); :meth:`release` once done, and the last
    user's release closes it. kazoo reconnects by itself, so a long-lived client
    outlives a lost connection or an expired session."""

    def __init__(self, url: str, timeout: float) -> None:
        hosts, self.path, auth = parse_zk_url(url)
        self.url = url
        self._key = (hosts, auth)
        with _shared_lock:
            entry = _shared.get(self._key)
            first = entry is None
            if entry is None:
                # In the table before connecting: a second first user must not start a
                # second session, but wait for this one.
                entry = _Shared()
                _shared[self._key] = entry
            entry.users += 1
        if first:
            self._connect_shared(entry, url, hosts, auth, timeout)
        else:
            # The first user's connect ends within its own timeout, either way.
            entry.ready.wait()
            if entry.error is not None:
                raise NoLeaderError(f"ZooKeeper {url}: {entry.error!r}") from entry.error
        self.client: Any = entry.client
        self._released = False

    def _connect_shared(
        self, entry: _Shared, url: str, hosts: str, auth: Optional[str], timeout: float
    ) -> None:
        try:
            client = _connect(url, hosts, auth, timeout)
        except BaseException as e:
            # The attempt failed for every user waiting on it: none of them holds the
            # entry, so it leaves the table and the next user tries afresh.
            with _shared_lock:
                entry.error = e
                if _shared.get(self._key) is entry:
                    del _shared[self._key]
            entry.ready.set()
            raise
        with _shared_lock:
            entry.client = client
        entry.ready.set()

    def release(self) -> None:
        closing = None
        with _shared_lock:
            if self._released:
                return
            self._released = True
            entry = _shared.get(self._key)
            if entry is None or entry.client is not self.client:
                return
            entry.users -= 1
            if entry.users == 0:
                del _shared[self._key]
                closing = entry.client
        if closing is not None:
            _close(closing)


def _close(client: Any) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # closing a client that never connected
        pass


def _leader_info(client: Any, path: str, children: List[str]) -> Optional[Dict[str, Any]]:
    """The MasterInfo of the leader among ``children`` (None: no readable leader)."""
    node = leader_node(children)
    if node is None:
        return None
    data, _ = client.get(f"{path}/{node}")
    info = json.loads(data)
    return info if isinstance(info, dict) else None


def detect_leader_info(
    url: str, timeout: float, scheme: str = "http", zk: Optional[ZkClient] = None
) -> Tuple[str, str]:
    """The base URL and MasterInfo id of the leading master registered under ``url``
    (``https`` for a cluster with TLS), asked on ``zk`` (kept open) or else on the
    shared client for as long as it takes."""
    user = zk if zk is not None else ZkClient(url, timeout)
    try:
        children = user.client.get_children(user.path)
        info = _leader_info(user.client, user.path, children)
        if info is None:
            raise NoLeaderError(f"no leading master in {url} (children: {children})")
        return master_address(info, scheme), str(info.get("id", ""))
    except NoLeaderError:
        raise
    except Exception as e:  # kazoo raises its own hierarchy and timeouts
        raise NoLeaderError(f"ZooKeeper {url}: {e!r}") from e
    finally:
        if zk is None:
            user.release()


def detect_leader(url: str, timeout: float, scheme: str = "http") -> str:
    """The base URL of the leading master registered under ``url``."""
    return detect_leader_info(url, timeout, scheme)[0]


class LeaderWatch:
    """While a subscription is open: watches the election path and calls ``on_change``
    once, from kazoo's thread, when the lowest ``json.info_*`` names a master other
    than ``subscribed_id``. As Mesos's scheduler drivers, which re-subscribe as soon as
    their detector names a new leader: a frozen old leader (SIGSTOP, a paused VM) keeps
    its TCP connection open, and the heartbeat watchdog would take much longer."""

    def __init__(self, url: str, timeout: float, subscribed_id: str, on_change: Callable[[str], None]) -> None:
        from kazoo.recipe.watchers import ChildrenWatch

        self._url = url
        self._subscribed_id = subscribed_id
        self._on_change = on_change
        self._done = False
        #: Why the watch fired (None until it does).
        self.reason: Optional[str] = None
        self._zk = ZkClient(url, timeout)
        self._client, self._path = self._zk.client, self._zk.path
        try:
            ChildrenWatch(self._client, self._path, self._children)
        except Exception as e:  # the path vanished, the session broke
            self._zk.release()
            raise NoLeaderError(f"ZooKeeper {url}: {e!r}") from e

    def _children(self, children: List[str]) -> bool:
        """kazoo's callback; returning False ends the watch."""
        if self._done:
            return False
        try:
            info = _leader_info(self._client, self._path, children)
        except Exception as e:  # the node went between the listing and the read
            log.debug("leader node unreadable", extra={"zk": self._url, "why": repr(e)})
            return True
        if info is None:
            # No leader now: the stream (or its watchdog) says when the old one is gone.
            return True
        leader_id = str(info.get("id", ""))
        if leader_id == self._subscribed_id:
            return True
        self._done = True
        self.reason = f"ZooKeeper {self._url} names a new leader: master {leader_id}"
        self._on_change(self.reason)
        return False

    def stop(self) -> None:
        """Ends the watch (its next callback returns False) and lets go of the
        shared client."""
        self._done = True
        self._zk.release()
