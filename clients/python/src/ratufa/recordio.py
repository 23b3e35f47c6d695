"""RecordIO, the framing of the v1 event streams: ``<decimal length>\\n<record>``.

The decoder is incremental and does no I/O: feed it the bytes as they come (chunk
boundaries mean nothing) and it returns the complete records. A length that is not a
positive decimal number, or one larger than ``max_record_bytes``, raises
:class:`~ratufa.errors.RecordIOError` at once instead of waiting for bytes that will
never come.
"""

from __future__ import annotations

from typing import List

from .errors import RecordIOError

#: Longest record accepted by default (64 MiB); an OFFERS event of many agents stays far below.
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024

# The longest length prefix that can be legal: the digits of any allowed maximum.
_MAX_LENGTH_DIGITS = 20


def encode(record: bytes) -> bytes:
    """One record framed as RecordIO."""
    return str(len(record)).encode("ascii") + b"\n" + record


class Decoder:
    """Splits a RecordIO byte stream into records."""

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._buffer = bytearray()
        self._expected: int | None = None
        self._max = max_record_bytes
        self._error: RecordIOError | None = None

    def feed(self, data: bytes) -> List[bytes]:
        """Adds ``data`` and returns every record it completes, in order. The records
        before a corrupt length are returned first; the error comes with the next call
        (and every call after it: the stream cannot be resynchronised)."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        records: List[bytes] = []
        try:
            self._split(records)
        except RecordIOError as e:
            self._error = e
            if not records:
                raise
        return records

    def _split(self, records: List[bytes]) -> None:
        while True:
            if self._expected is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > _MAX_LENGTH_DIGITS:
                        raise RecordIOError(
                            f"no newline after {len(self._buffer)} bytes of a record length"
                        )
                    self._check_digits(bytes(self._buffer))
                    return
                self._expected = self._parse_length(bytes(self._buffer[:newline]))
                del self._buffer[: newline + 1]
            if len(self._buffer) < self._expected:
                return
            records.append(bytes(self._buffer[: self._expected]))
            del self._buffer[: self._expected]
            self._expected = None

    @property
    def error(self) -> RecordIOError | None:
        """The corruption found, if any: nothing after it can be read."""
        return self._error

    @property
    def in_record(self) -> bool:
        """Whether some bytes of an unfinished record (or its length) are buffered: a
        stream that ends now ended mid-record."""
        return self._expected is not None or bool(self._buffer)

    @staticmethod
    def _check_digits(prefix: bytes) -> None:
        if prefix and not prefix.isdigit():
            raise RecordIOError(f"invalid record length {prefix[:32]!r}")

    def _parse_length(self, line: bytes) -> int:
        if not line or len(line) > _MAX_LENGTH_DIGITS or not line.isdigit():
            raise RecordIOError(f"invalid record length {line[:32]!r}")
        length = int(line)
        if length == 0:
            raise RecordIOError("record length 0 (RecordIO never sends empty records)")
        if length > self._max:
            raise RecordIOError(f"record length {length} exceeds the limit of {self._max} bytes")
        return length
