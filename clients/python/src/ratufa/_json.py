"""The JSON shapes shared by the clients: ids, bytes fields, the Mesos JSON mapping."""

from __future__ import annotations

import base64
import uuid as uuid_module
from typing import Any, Dict, Mapping, Union

from .errors import ValidationError

#: A decoded JSON object: events and calls travel as plain dicts in Mesos's JSON mapping.
Json = Dict[str, Any]

#: An id as users hold it: the bare string, or the ``{"value": ...}`` message.
IdLike = Union[str, Mapping[str, Any]]


def id_message(value: IdLike, field: str) -> Json:
    """``{"value": ...}`` for a string or an id message; ValidationError naming ``field``
    for anything else (an empty string, a dict without a string ``value``)."""
    if isinstance(value, str):
        if not value:
            raise ValidationError(f"{field} must not be empty")
        return {"value": value}
    if isinstance(value, Mapping):
        inner = value.get("value")
        if isinstance(inner, str) and inner:
            return {"value": inner}
    raise ValidationError(f"{field} must be a non-empty string or {{'value': str}}, not {value!r}")


def id_value(value: IdLike, field: str) -> str:
    """The string inside an id (see :func:`id_message`)."""
    return str(id_message(value, field)["value"])


def encode_bytes(data: Union[bytes, str]) -> str:
    """A ``bytes`` field in the JSON mapping: base64. A ``str`` is taken as UTF-8 text."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def decode_bytes(text: str) -> bytes:
    """The bytes a base64 JSON field holds (``data`` of MESSAGE events, uuids)."""
    return base64.b64decode(text)


def fresh_uuid() -> str:
    """A new random UUID in its 16 bytes, base64-encoded, as status update uuids travel."""
    return encode_bytes(uuid_module.uuid4().bytes)


def uuid_field(value: Union[str, bytes], field: str) -> str:
    """A status uuid for a call: 16 raw bytes, or their base64 (as UPDATE events carry
    them). Mesos refuses anything else with 400; this refuses it before sending."""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as e:
            raise ValidationError(f"{field} is not base64: {value!r}") from e
    if len(raw) != 16:
        raise ValidationError(f"{field} must be 16 bytes (a UUID), got {len(raw)}")
    return encode_bytes(raw)
