//! RecordIO, the framing of every Mesos v1 stream: `<decimal byte length>\n<bytes>`,
//! repeated, with no trailing delimiter. Chunk boundaries carry no meaning, so the
//! decoder takes bytes in whatever pieces the transport hands them over.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::GatewayError;

/// Appends one record to `out`.
///
/// The length counts bytes, not characters. An empty record is never written: Mesos
/// clients read a zero length as a protocol error, and nothing we send is empty, so an
/// empty input is a bug in the caller (asserted in debug builds, skipped in release).
pub fn encode(record: &[u8], out: &mut BytesMut) {
    debug_assert!(!record.is_empty(), "RecordIO records must not be empty");
    if record.is_empty() {
        return;
    }
    let mut digits = [0u8; 20];
    let len = format_decimal(record.len(), &mut digits);
    out.reserve(len.len() + 1 + record.len());
    out.put_slice(len);
    out.put_u8(b'\n');
    out.put_slice(record);
}

/// The header of a record of `len` bytes (`<len>\n`), for a record sent as a buffer
/// of its own after it (one too large to copy into a frame).
pub fn header(len: usize) -> Bytes {
    let mut digits = [0u8; 20];
    let mut out = BytesMut::with_capacity(21);
    out.put_slice(format_decimal(len, &mut digits));
    out.put_u8(b'\n');
    out.freeze()
}

/// One record, framed, as a buffer of its own (one HTTP chunk of an event stream).
pub fn frame(record: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode(record, &mut out);
    out.freeze()
}

fn format_decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Where the decoder is inside the stream.
#[derive(Debug)]
enum State {
    /// Reading the decimal length; `digits` counted so far, `value` their number.
    Length { value: u64, digits: usize },
    /// Reading a record's bytes; `remaining` still to come.
    Record { buf: BytesMut, remaining: usize },
    /// A previous `feed` failed; the stream cannot be resynchronised.
    Failed,
}

/// Turns a byte stream cut into arbitrary chunks back into records.
///
/// Lengths are checked as they arrive, before any record byte is buffered: a length
/// with more digits than `max_record_len` has, a leading zero, a length of 0, or one
/// above `max_record_len` is an error, so a hostile or broken peer cannot make us buffer
/// more than `max_record_len` bytes. After an error the decoder stays failed.
#[derive(Debug)]
pub struct RecordIoDecoder {
    max_record_len: usize,
    max_digits: usize,
    state: State,
}

/// The initial buffer for a record; larger records grow it as their bytes arrive,
/// so a length prefix alone does not make us allocate up to the maximum.
const INITIAL_RECORD_CAPACITY: usize = 64 * 1024;

impl RecordIoDecoder {
    pub fn new(max_record_len: usize) -> Self {
        let mut digits = [0u8; 20];
        RecordIoDecoder {
            max_record_len,
            max_digits: format_decimal(max_record_len, &mut digits).len(),
            state: State::Length {
                value: 0,
                digits: 0,
            },
        }
    }

    /// Feeds the next chunk and returns every record it completed, in order.
    ///
    /// On error the records completed earlier in the same chunk are not returned: the
    /// stream is broken at that point and the caller is expected to drop it.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<Vec<Bytes>, GatewayError> {
        let mut records = Vec::new();
        while !chunk.is_empty() {
            match &mut self.state {
                State::Failed => return Err(GatewayError::RecordIoFailed),
                State::Length { value, digits } => {
                    let byte = chunk[0];
                    chunk = &chunk[1..];
                    match byte {
                        b'0'..=b'9' => {
                            // One spelling per length, as Mesos writes them: a leading
                            // zero is refused, so decoding and re-encoding are inverse.
                            if *digits == 1 && *value == 0 {
                                return self.fail(GatewayError::RecordIoLeadingZero);
                            }
                            *digits += 1;
                            if *digits > self.max_digits {
                                return self.fail(GatewayError::RecordIoLengthTooLong {
                                    max_digits: self.max_digits,
                                });
                            }
                            // Only a maximum of 20 digits lets this overflow.
                            match value
                                .checked_mul(10)
                                .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                            {
                                Some(v) => *value = v,
                                None => return self.fail(GatewayError::RecordIoLengthOverflow),
                            }
                        }
                        b'\n' => {
                            let (value, digits) = (*value, *digits);
                            if digits == 0 {
                                return self.fail(GatewayError::RecordIoEmptyLength);
                            }
                            if value == 0 {
                                return self.fail(GatewayError::RecordIoZeroLength);
                            }
                            let len = match usize::try_from(value) {
                                Ok(len) if len <= self.max_record_len => len,
                                _ => {
                                    return self.fail(GatewayError::RecordIoTooLarge {
                                        len: value,
                                        max: self.max_record_len,
                                    });
                                }
                            };
                            self.state = State::Record {
                                buf: BytesMut::new(),
                                remaining: len,
                            };
                        }
                        other => {
                            return self
                                .fail(GatewayError::RecordIoInvalidLengthByte { byte: other });
                        }
                    }
                }
                State::Record { buf, remaining } => {
                    let take = (*remaining).min(chunk.len());
                    let (head, tail) = chunk.split_at(take);
                    chunk = tail;
                    *remaining -= take;
                    let record = if *remaining == 0 && buf.is_empty() {
                        // The whole record sits in this chunk: one copy, no buffering.
                        Bytes::copy_from_slice(head)
                    } else {
                        if buf.is_empty() {
                            buf.reserve((take + *remaining).min(INITIAL_RECORD_CAPACITY));
                        }
                        buf.extend_from_slice(head);
                        if *remaining > 0 {
                            continue;
                        }
                        std::mem::take(buf).freeze()
                    };
                    records.push(record);
                    self.state = State::Length {
                        value: 0,
                        digits: 0,
                    };
                }
            }
        }
        Ok(records)
    }

    /// Checks that the input ended on a record boundary.
    pub fn finish(&self) -> Result<(), GatewayError> {
        match &self.state {
            State::Length { digits: 0, .. } => Ok(()),
            State::Length { digits, .. } => Err(GatewayError::RecordIoTruncated(format!(
                "{digits} digit(s) of a length and no '\\n'"
            ))),
            State::Record { buf, remaining } => Err(GatewayError::RecordIoTruncated(format!(
                "{} byte(s) of a record received, {remaining} missing",
                buf.len()
            ))),
            State::Failed => Err(GatewayError::RecordIoFailed),
        }
    }

    fn fail(&mut self, error: GatewayError) -> Result<Vec<Bytes>, GatewayError> {
        tracing::debug!(%error, "RecordIO stream rejected");
        self.state = State::Failed;
        Err(error)
    }
}

/// The records of a RecordIO response body, for a client reading an event stream
/// (the agent reading the master's commands, an executor reading the agent's events).
#[derive(Debug)]
pub struct RecordBody<B> {
    body: B,
    decoder: RecordIoDecoder,
    queued: VecDeque<Bytes>,
}

impl<B> RecordBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Reads `body`, refusing records longer than `max_record_len`.
    pub fn new(body: B, max_record_len: usize) -> Self {
        RecordBody {
            body,
            decoder: RecordIoDecoder::new(max_record_len),
            queued: VecDeque::new(),
        }
    }

    /// The next record; `Ok(None)` when the body ended on a record boundary. A
    /// transport failure is [`GatewayError::RecordIoTransport`], anything else a
    /// framing error. Cancel safe: a record read but not yet returned stays queued.
    pub async fn next(&mut self) -> Result<Option<Bytes>, GatewayError> {
        loop {
            if let Some(record) = self.queued.pop_front() {
                return Ok(Some(record));
            }
            let Some(frame) = self.body.frame().await else {
                self.decoder.finish()?;
                return Ok(None);
            };
            let frame = frame.map_err(|e| GatewayError::RecordIoTransport(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                let records = self.decoder.feed(&data)?;
                self.queued.extend(records);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Chunk = Result<http_body::Frame<Bytes>, String>;

    fn body(
        chunks: Vec<Chunk>,
    ) -> http_body_util::StreamBody<futures::stream::Iter<std::vec::IntoIter<Chunk>>> {
        http_body_util::StreamBody::new(futures::stream::iter(chunks))
    }

    fn data(bytes: &'static [u8]) -> Chunk {
        Ok(http_body::Frame::data(Bytes::from_static(bytes)))
    }

    #[tokio::test]
    async fn a_record_body_yields_records_across_chunks() {
        let mut records =
            RecordBody::new(body(vec![data(b"3\nab"), data(b"c2"), data(b"\nde")]), 100);
        assert_eq!(
            records.next().await.unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            records.next().await.unwrap(),
            Some(Bytes::from_static(b"de"))
        );
        assert_eq!(records.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_record_body_tells_transport_from_framing_errors() {
        let mut cut = RecordBody::new(body(vec![data(b"5\nab")]), 100);
        assert!(matches!(
            cut.next().await,
            Err(GatewayError::RecordIoTruncated(_))
        ));
        let mut broken = RecordBody::new(body(vec![data(b"2\nab"), Err("reset".into())]), 100);
        assert_eq!(
            broken.next().await.unwrap(),
            Some(Bytes::from_static(b"ab"))
        );
        assert!(
            matches!(broken.next().await, Err(GatewayError::RecordIoTransport(m)) if m == "reset")
        );
    }

    fn encode_all(records: &[Vec<u8>]) -> BytesMut {
        let mut out = BytesMut::new();
        for r in records {
            encode(r, &mut out);
        }
        out
    }

    #[test]
    fn encodes_byte_length_then_newline() {
        let mut out = BytesMut::new();
        encode(b"hello", &mut out);
        encode("héllo".as_bytes(), &mut out);
        assert_eq!(&out[..], "5\nhello6\nhéllo".as_bytes());
        assert_eq!(&frame(&[0u8; 12])[..3], b"12\n");
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn empty_record_is_skipped() {
        let mut out = BytesMut::new();
        encode(b"", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "must not be empty")]
    fn empty_record_is_a_bug() {
        encode(b"", &mut BytesMut::new());
    }

    #[test]
    fn decodes_records_split_byte_by_byte() {
        let input = b"3\nabc10\n0123456789";
        let mut decoder = RecordIoDecoder::new(100);
        let mut got = Vec::new();
        for b in input {
            got.extend(decoder.feed(&[*b]).unwrap());
        }
        assert_eq!(
            got,
            vec![
                Bytes::from_static(b"abc"),
                Bytes::from_static(b"0123456789")
            ]
        );
        decoder.finish().unwrap();
    }

    #[test]
    fn rejects_a_non_digit_in_the_length() {
        let mut decoder = RecordIoDecoder::new(100);
        let err = decoder.feed(b"1x\nabc").unwrap_err();
        assert!(
            matches!(err, GatewayError::RecordIoInvalidLengthByte { byte: b'x' }),
            "{err}"
        );
        assert!(err.to_string().contains("0x78"), "{err}");
        // Stays failed: no resynchronising on garbage.
        assert!(matches!(
            decoder.feed(b"1\na"),
            Err(GatewayError::RecordIoFailed)
        ));
    }

    #[test]
    fn rejects_a_length_with_too_many_digits() {
        // max 100 has 3 digits; a fourth is refused before the '\n' arrives.
        let mut decoder = RecordIoDecoder::new(100);
        let err = decoder.feed(b"1000").unwrap_err();
        assert!(
            matches!(err, GatewayError::RecordIoLengthTooLong { max_digits: 3 }),
            "{err}"
        );
        // A huge length never overflows, whatever the maximum.
        let mut decoder = RecordIoDecoder::new(usize::MAX);
        let err = decoder.feed(&[b'1'; 64]).unwrap_err();
        assert!(
            matches!(err, GatewayError::RecordIoLengthTooLong { .. }),
            "{err}"
        );
        let mut decoder = RecordIoDecoder::new(usize::MAX);
        let err = decoder.feed(b"99999999999999999999\n").unwrap_err();
        assert!(matches!(err, GatewayError::RecordIoLengthOverflow), "{err}");
    }

    #[test]
    fn rejects_zero_and_empty_lengths() {
        let err = RecordIoDecoder::new(100).feed(b"0\n").unwrap_err();
        assert!(matches!(err, GatewayError::RecordIoZeroLength), "{err}");
        let err = RecordIoDecoder::new(100).feed(b"00\n").unwrap_err();
        assert!(matches!(err, GatewayError::RecordIoLeadingZero), "{err}");
        let err = RecordIoDecoder::new(100).feed(b"05\nabcde").unwrap_err();
        assert!(matches!(err, GatewayError::RecordIoLeadingZero), "{err}");
        let err = RecordIoDecoder::new(100).feed(b"\n").unwrap_err();
        assert!(matches!(err, GatewayError::RecordIoEmptyLength), "{err}");
    }

    #[test]
    fn rejects_a_length_over_the_maximum() {
        let mut decoder = RecordIoDecoder::new(100);
        assert_eq!(decoder.feed(b"100\n").unwrap(), Vec::<Bytes>::new());
        let err = RecordIoDecoder::new(100).feed(b"101\n").unwrap_err();
        assert!(
            matches!(err, GatewayError::RecordIoTooLarge { len: 101, max: 100 }),
            "{err}"
        );
        assert!(err.to_string().contains("101") && err.to_string().contains("100"));
    }

    #[test]
    fn finish_reports_a_truncated_stream() {
        let mut decoder = RecordIoDecoder::new(100);
        decoder.finish().unwrap();
        decoder.feed(b"1").unwrap();
        assert!(matches!(
            decoder.finish(),
            Err(GatewayError::RecordIoTruncated(_))
        ));
        decoder.feed(b"0\nabc").unwrap();
        let err = decoder.finish().unwrap_err();
        assert!(err.to_string().contains("3 byte(s)"), "{err}");
        assert!(err.to_string().contains("7 missing"), "{err}");
        assert_eq!(decoder.feed(b"defghij").unwrap().len(), 1);
        decoder.finish().unwrap();
    }

    /// Records of arbitrary bytes and of non-ASCII text, where bytes and characters
    /// differ.
    fn record() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..300),
            "[\\PC]{1,80}".prop_map(String::into_bytes),
            "[é日本🦀]{1,40}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn round_trips_at_any_split(
            records in proptest::collection::vec(record(), 0..12),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..20),
        ) {
            let encoded = encode_all(&records);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(encoded.len() + 1)).collect();
            cuts.push(0);
            cuts.push(encoded.len());
            cuts.sort_unstable();

            let mut decoder = RecordIoDecoder::new(1024);
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                got.extend(decoder.feed(&encoded[w[0]..w[1]]).unwrap());
            }
            decoder.finish().unwrap();
            let got: Vec<Vec<u8>> = got.into_iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, records);
        }

        #[test]
        fn a_cut_inside_a_record_is_reported(
            records in proptest::collection::vec(record(), 1..6),
            cut in any::<proptest::sample::Index>(),
        ) {
            let encoded = encode_all(&records);
            let mut boundaries = vec![0];
            let mut at = 0;
            for r in &records {
                at += r.len().to_string().len() + 1 + r.len();
                boundaries.push(at);
            }
            let cut = cut.index(encoded.len() + 1);
            let mut decoder = RecordIoDecoder::new(1024);
            let got = decoder.feed(&encoded[..cut]).unwrap();
            let complete = boundaries.iter().filter(|b| **b <= cut).count() - 1;
            prop_assert_eq!(got.len(), complete);
            prop_assert_eq!(decoder.finish().is_ok(), boundaries.contains(&cut));
        }
    }
}
