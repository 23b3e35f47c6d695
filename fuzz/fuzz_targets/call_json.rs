//! A scheduler Call from JSON bytes: must never panic; whatever decodes must survive
//! our own JSON and protobuf encoders and decode again (we must read what we write).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratufa_proto::Encoding;
use ratufa_proto::v1::scheduler::Call;

fuzz_target!(|data: &[u8]| {
    let Ok(call) = Encoding::Json.decode::<Call>(data) else {
        return;
    };
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let bytes = encoding.encode(&call);
        if let Err(e) = encoding.decode::<Call>(&bytes) {
            panic!(
                "{encoding:?} re-encoding of a decoded Call does not decode: {e}\ninput: {}\nencoded: {:?}",
                String::from_utf8_lossy(data),
                String::from_utf8_lossy(&bytes),
            );
        }
    }
});
