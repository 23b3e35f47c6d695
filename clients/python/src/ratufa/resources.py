"""Resource arithmetic over Mesos's Resource JSON: scalars, ranges and sets, kept apart
by everything that is not their value (role, reservations, allocation_info, disk...).

    offered = Resources.of_offer(offer)
    need = Resources([scalar("cpus", 0.5), scalar("mem", 128)])
    if offered.contains(need): ...
    left = offered - need

Scalars are rounded to three decimals, as Mesos keeps them in fixed point. Subtraction
takes from the pool with the same reservation and never goes below zero; ``take``
takes an amount by name from whatever pools hold it, reserved ones first.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple, Union

from ._json import Json
from .errors import ValidationError

Range = Tuple[int, int]
Value = Union[float, List[Range], Set[str]]

_VALUE_FIELDS = ("scalar", "ranges", "set")


def role_of(resource: Mapping[str, Any]) -> str:
    """The role a resource is reserved for (the last refinement), or ``*`` if none."""
    reservations = resource.get("reservations")
    if reservations:
        return str(reservations[-1].get("role", "*"))
    return str(resource.get("role", "*"))


def _round(value: float) -> float:
    return round(value, 3)


def _merge_ranges(ranges: Iterable[Range]) -> List[Range]:
    merged: List[Range] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _subtract_ranges(ranges: List[Range], remove: List[Range]) -> List[Range]:
    out = list(ranges)
    for rb, re_ in remove:
        next_out: List[Range] = []
        for b, e in out:
            if re_ < b or rb > e:
                next_out.append((b, e))
                continue
            if b < rb:
                next_out.append((b, rb - 1))
            if e > re_:
                next_out.append((re_ + 1, e))
        out = next_out
    return out


def _ranges_contain(ranges: List[Range], inner: List[Range]) -> bool:
    return all(any(b <= ib and ie <= e for b, e in ranges) for ib, ie in inner)


def _parse(resource: Mapping[str, Any]) -> Tuple[str, Json, Value]:
    name = resource.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"a resource needs a name: {resource!r}")
    kind = resource.get("type", "SCALAR")
    template = {k: copy.deepcopy(v) for k, v in resource.items() if k not in _VALUE_FIELDS}
    template["type"] = kind
    value: Value
    if kind == "SCALAR":
        value = _round(float(resource.get("scalar", {}).get("value", 0.0)))
    elif kind == "RANGES":
        value = _merge_ranges(
            (int(r["begin"]), int(r["end"])) for r in resource.get("ranges", {}).get("range", [])
        )
    elif kind == "SET":
        value = set(resource.get("set", {}).get("item", []))
    else:
        raise ValidationError(f"resource {name}: unknown type {kind!r}")
    key = json.dumps(template, sort_keys=True)
    return key, template, value


def _emit(template: Json, value: Value) -> Json:
    out = copy.deepcopy(template)
    if isinstance(value, float):
        out["scalar"] = {"value": value}
    elif isinstance(value, list):
        out["ranges"] = {"range": [{"begin": b, "end": e} for b, e in value]}
    else:
        out["set"] = {"item": sorted(value)}
    return out


def _empty(value: Value) -> bool:
    return value <= 0 if isinstance(value, float) else not value


class Resources:
    """A bag of resources (immutable: operators return new bags)."""

    def __init__(self, resources: Iterable[Mapping[str, Any]] = ()) -> None:
        self._pools: Dict[str, Tuple[Json, Value]] = {}
        for resource in resources:
            self._add(*_parse(resource))

    @classmethod
    def of_offer(cls, offer: Mapping[str, Any]) -> "Resources":
        return cls(offer.get("resources", []))

    @classmethod
    def scalars(cls, role: Optional[str] = None, **amounts: float) -> "Resources":
        """``Resources.scalars(cpus=1, mem=128)``; reserved for ``role`` when given."""
        from .tasks import scalar

        return cls(scalar(name, value, role) for name, value in amounts.items())

    def _add(self, key: str, template: Json, value: Value) -> None:
        if key not in self._pools:
            self._pools[key] = (template, copy.copy(value))
            return
        current = self._pools[key][1]
        merged: Value
        if isinstance(current, float) and isinstance(value, float):
            merged = _round(current + value)
        elif isinstance(current, list) and isinstance(value, list):
            merged = _merge_ranges(current + value)
        elif isinstance(current, set) and isinstance(value, set):
            merged = current | value
        else:
            raise ValidationError(f"resource {template.get('name')}: mixed types")
        self._pools[key] = (template, merged)

    def _copy(self) -> "Resources":
        out = Resources()
        out._pools = {k: (t, copy.copy(v)) for k, (t, v) in self._pools.items()}
        return out

    # --- reading -------------------------------------------------------------------

    def __iter__(self) -> Iterator[Json]:
        for template, value in self._pools.values():
            if not _empty(value):
                yield _emit(template, value)

    def to_json(self) -> List[Json]:
        """The resources as a JSON list (what TaskInfo.resources takes)."""
        return list(self)

    def __bool__(self) -> bool:
        return any(not _empty(v) for _, v in self._pools.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return self.contains(other) and other.contains(self)

    def __repr__(self) -> str:
        return f"Resources({self.to_json()!r})"

    def scalar(self, name: str) -> float:
        """The amount of scalar ``name`` over all reservations."""
        return _round(
            sum(v for t, v in self._pools.values() if t["name"] == name and isinstance(v, float))
        )

    def ranges(self, name: str) -> List[Range]:
        """The ranges of ``name`` over all reservations, merged."""
        out: List[Range] = []
        for t, v in self._pools.values():
            if t["name"] == name and isinstance(v, list):
                out += v
        return _merge_ranges(out)

    def items(self, name: str) -> Set[str]:
        """The items of set ``name`` over all reservations."""
        out: Set[str] = set()
        for t, v in self._pools.values():
            if t["name"] == name and isinstance(v, set):
                out |= v
        return out

    def filter(self, role: Optional[str] = None, reserved: Optional[bool] = None) -> "Resources":
        """The resources reserved for ``role`` (``"*"``: unreserved), or all reserved
        (``reserved=True``) or unreserved (``reserved=False``) ones."""
        out = Resources()
        for key, (template, value) in self._pools.items():
            r = role_of(template)
            if role is not None and r != role:
                continue
            if reserved is not None and (r != "*") != reserved:
                continue
            out._pools[key] = (template, copy.copy(value))
        return out

    # --- arithmetic ---------------------------------------------------------------------

    def __add__(self, other: Union["Resources", Iterable[Mapping[str, Any]]]) -> "Resources":
        out = self._copy()
        other_res = other if isinstance(other, Resources) else Resources(other)
        for key, (template, value) in other_res._pools.items():
            out._add(key, template, value)
        return out

    def __sub__(self, other: Union["Resources", Iterable[Mapping[str, Any]]]) -> "Resources":
        out = self._copy()
        other_res = other if isinstance(other, Resources) else Resources(other)
        for key, (_, value) in other_res._pools.items():
            if key not in out._pools:
                continue
            template, current = out._pools[key]
            left: Value
            if isinstance(current, float) and isinstance(value, float):
                left = max(0.0, _round(current - value))
            elif isinstance(current, list) and isinstance(value, list):
                left = _subtract_ranges(current, value)
            elif isinstance(current, set) and isinstance(value, set):
                left = current - value
            else:
                continue
            out._pools[key] = (template, left)
        return out

    def contains(self, other: Union["Resources", Iterable[Mapping[str, Any]]]) -> bool:
        """Whether every pool of ``other`` fits in the same pool (same reservation) here."""
        other_res = other if isinstance(other, Resources) else Resources(other)
        for key, (_, value) in other_res._pools.items():
            if _empty(value):
                continue
            if key not in self._pools:
                return False
            current = self._pools[key][1]
            if isinstance(current, float) and isinstance(value, float):
                if current + 1e-9 < value:
                    return False
            elif isinstance(current, list) and isinstance(value, list):
                if not _ranges_contain(current, value):
                    return False
            elif isinstance(current, set) and isinstance(value, set):
                if not value <= current:
                    return False
            else:
                return False
        return True

    def __ge__(self, other: "Resources") -> bool:
        return self.contains(other)

    def __le__(self, other: "Resources") -> bool:
        return other.contains(self)

    def take(self, **amounts: float) -> Optional["Resources"]:
        """The scalar amounts (``cpus=0.5, mem=64``) cut from these resources, taking
        from reserved pools before unreserved ones, keeping each piece's reservation
        (a task must name the reservation it uses). None if there is not enough."""
        taken = Resources()
        for name, amount in amounts.items():
            want = _round(float(amount))
            if want <= 0:
                continue
            if self.scalar(name) + 1e-9 < want:
                return None
            pools = [
                (key, template, value)
                for key, (template, value) in self._pools.items()
                if template["name"] == name and isinstance(value, float)
            ]
            pools.sort(key=lambda p: role_of(p[1]) == "*")
            for key, template, value in pools:
                piece = min(want, value)
                if piece > 0:
                    taken._add(key, template, _round(piece))
                    want = _round(want - piece)
                if want <= 0:
                    break
        return taken
