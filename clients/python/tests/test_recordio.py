from __future__ import annotations

import pytest

from ratufa.errors import RecordIOError
from ratufa.recordio import Decoder, encode

RECORDS = [b'{"type":"SUBSCRIBED"}', b"x", b'{"type":"HEARTBEAT"}' * 50]
STREAM = b"".join(encode(r) for r in RECORDS)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_records_whatever_the_chunking(size: int) -> None:
    decoder = Decoder()
    out = []
    for i in range(0, len(STREAM), size):
        out += decoder.feed(STREAM[i : i + size])
    assert out == RECORDS
    assert not decoder.in_record


def test_a_stream_cut_mid_record_is_seen() -> None:
    decoder = Decoder()
    assert decoder.feed(STREAM[:-3]) == RECORDS[:2]
    assert decoder.in_record


@pytest.mark.parametrize("bad", [b"12x\n", b"-1\n", b"0\n", b"\n", b" 5\n", b"1e3\n", b"abc", b"9" * 25])
def test_corrupt_lengths_raise_at_once(bad: bytes) -> None:
    with pytest.raises(RecordIOError):
        Decoder().feed(bad)


def test_a_length_over_the_limit_raises_without_waiting_for_the_bytes() -> None:
    with pytest.raises(RecordIOError, match="exceeds"):
        Decoder(max_record_bytes=100).feed(b"101\n")


def test_records_before_a_corruption_come_out_first() -> None:
    decoder = Decoder()
    assert decoder.feed(encode(b"ok") + b"zz\n") == [b"ok"]
    assert decoder.error is not None
    with pytest.raises(RecordIOError):
        decoder.feed(encode(b"more"))
