"""FrameworkInfo: a dataclass for the common fields, and the checks made before SUBSCRIBE."""

from __future__ import annotations

import copy
import getpass
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Union

from ._json import Json
from .errors import ValidationError

#: Mesos's invalid role names: these exact names, or a name starting with '-', or
#: containing '/', whitespace or a backspace.
_RESERVED_ROLE_NAMES = {"", ".", ".."}

#: A week: what long-running frameworks use so that a scheduler restart loses nothing.
ONE_WEEK_SECONDS = 7 * 24 * 3600.0


@dataclass
class FrameworkInfo:
    """The fields of ``mesos.v1.FrameworkInfo`` most frameworks set.

    ``user`` defaults to the user running the scheduler (Mesos requires the field).
    ``extra`` is merged into the JSON as given, for fields not listed here
    (``labels``, ``webui_url``, ``offer_filters``...). ``to_json()`` gives the dict the
    clients send; the clients accept that dict directly as well.
    """

    name: str
    user: str = ""
    roles: List[str] = field(default_factory=list)
    capabilities: List[str] = field(default_factory=list)
    failover_timeout: Optional[float] = None
    checkpoint: Optional[bool] = None
    hostname: Optional[str] = None
    principal: Optional[str] = None
    id: Optional[str] = None
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        info: Json = {"name": self.name, "user": self.user or getpass.getuser()}
        if self.roles:
            info["roles"] = list(self.roles)
            if "MULTI_ROLE" not in self.capabilities:
                info["capabilities"] = [{"type": "MULTI_ROLE"}]
        if self.capabilities:
            info.setdefault("capabilities", [])
            info["capabilities"] += [{"type": c} for c in self.capabilities]
        for name in ("failover_timeout", "checkpoint", "hostname", "principal"):
            value = getattr(self, name)
            if value is not None:
                info[name] = value
        if self.id is not None:
            info["id"] = {"value": self.id}
        info.update(self.extra)
        return info


def check_role(role: Any, field_name: str) -> None:
    """ValidationError unless ``role`` is a valid Mesos role name."""
    if not isinstance(role, str) or role in _RESERVED_ROLE_NAMES:
        raise ValidationError(f"{field_name}: invalid role {role!r}")
    if role.startswith("-") or "/" in role or "\b" in role or any(c.isspace() for c in role):
        raise ValidationError(f"{field_name}: invalid role {role!r}")


def framework_json(info: Union[FrameworkInfo, Mapping[str, Any]]) -> Json:
    """A checked copy of ``info`` as the JSON FrameworkInfo: ``name`` must be a non-empty
    string, ``user`` a string (filled in when missing), roles valid, numbers numbers."""
    if isinstance(info, FrameworkInfo):
        out = info.to_json()
    elif isinstance(info, Mapping):
        out = copy.deepcopy(dict(info))
    else:
        raise ValidationError(
            f"framework_info must be a FrameworkInfo or a dict, not {type(info).__name__}"
        )
    name = out.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError("framework_info.name is required (a non-empty string)")
    if "user" not in out or out["user"] is None:
        out["user"] = getpass.getuser()
    if not isinstance(out["user"], str):
        raise ValidationError("framework_info.user must be a string")
    if "role" in out:
        check_role(out["role"], "framework_info.role")
    roles = out.get("roles", [])
    if not isinstance(roles, list):
        raise ValidationError("framework_info.roles must be a list of role names")
    for i, role in enumerate(roles):
        check_role(role, f"framework_info.roles[{i}]")
    timeout = out.get("failover_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise ValidationError("framework_info.failover_timeout must be a number of seconds ≥ 0")
    for i, cap in enumerate(out.get("capabilities", [])):
        if not isinstance(cap, Mapping) or not isinstance(cap.get("type"), str):
            raise ValidationError(
                f"framework_info.capabilities[{i}] must be {{'type': NAME}}, not {cap!r}"
            )
    return out
