//! Arbitrary bytes, fed to the RecordIO decoder in arbitrary chunks. It must never
//! panic, and the records it returns, encoded again, must be exactly the input up to
//! where decoding stopped (lengths have one spelling, so this is exact).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ratufa_gateway::{GatewayError, RecordIoDecoder, recordio};

fuzz_target!(|input: (u16, Vec<u8>, Vec<u8>)| {
    let (max, cuts, data) = input;
    // Small maxima make the too-large and too-many-digits paths reachable.
    let max = usize::from(max).max(1);
    let mut decoder = RecordIoDecoder::new(max);

    let mut records = Vec::new();
    let mut rest = &data[..];
    let mut cuts = cuts.iter().map(|c| usize::from(*c));
    let mut failed = false;
    while !rest.is_empty() {
        // A cut of 0 feeds an empty chunk, which must be harmless.
        let size = cuts.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        match decoder.feed(chunk) {
            Ok(got) => records.extend(got),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }

    let mut encoded = BytesMut::new();
    for record in &records {
        assert!(!record.is_empty(), "decoder returned an empty record");
        assert!(
            record.len() <= max,
            "record of {} bytes over max {max}",
            record.len()
        );
        recordio::encode(record, &mut encoded);
    }
    assert!(encoded.len() <= data.len());
    assert_eq!(
        &encoded[..],
        &data[..encoded.len()],
        "records do not re-encode to the input"
    );

    if failed {
        // Stays failed.
        assert!(matches!(
            decoder.feed(b"1\nx"),
            Err(GatewayError::RecordIoFailed)
        ));
        assert!(decoder.finish().is_err());
    } else if decoder.finish().is_ok() {
        assert_eq!(
            encoded.len(),
            data.len(),
            "finish() is Ok but input was left over"
        );
    } else {
        assert!(
            encoded.len() < data.len(),
            "finish() failed on a complete stream"
        );
    }
});
