"""Finding the leading master in ZooKeeper (``pip install ratufa[zk]``, kazoo).

Each master holds an ephemeral sequential node ``<path>/json.info_<seq>`` with its
MasterInfo as JSON; the leader is the one with the lowest sequence number.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .errors import NoLeaderError, ValidationError

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


def detect_leader(url: str, timeout: float, scheme: str = "http") -> str:
    """The base URL of the leading master registered under ``url`` (``https`` for a
    cluster with TLS)."""
    try:
        from kazoo.client import KazooClient
    except ImportError as e:
        raise ValidationError("zk:// masters need kazoo: pip install 'ratufa[zk]'") from e
    hosts, path, auth = parse_zk_url(url)
    client = KazooClient(
        hosts=hosts,
        timeout=timeout,
        auth_data=[("digest", auth)] if auth else None,
    )
    try:
        client.start(timeout=timeout)
        children = client.get_children(path)
        node = leader_node(children)
        if node is None:
            raise NoLeaderError(f"no leading master in {url} (children: {children})")
        data, _ = client.get(f"{path}/{node}")
        return master_address(json.loads(data), scheme)
    except NoLeaderError:
        raise
    except Exception as e:  # kazoo raises its own hierarchy and timeouts
        raise NoLeaderError(f"ZooKeeper {url}: {e!r}") from e
    finally:
        try:
            client.stop()
            client.close()
        except Exception:  # closing a client that never connected
            pass
