//! A scheduler Call from protobuf bytes: must never panic; whatever decodes must
//! encode again, in protobuf and in Mesos JSON, and decode from that (we must read what
//! we write, whichever encoding a subscriber asked for).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratufa_proto::Encoding;
use ratufa_proto::v1::scheduler::Call;

fuzz_target!(|data: &[u8]| {
    let Ok(call) = Encoding::Protobuf.decode::<Call>(data) else {
        return;
    };
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let bytes = encoding.encode(&call);
        if let Err(e) = encoding.decode::<Call>(&bytes) {
            panic!(
                "{encoding:?} re-encoding of a decoded Call does not decode: {e}\ncall: {call:?}\nencoded: {:?}",
                String::from_utf8_lossy(&bytes),
            );
        }
    }
});
