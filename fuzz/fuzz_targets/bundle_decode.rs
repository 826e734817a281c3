//! Arbitrary bytes into the bundle decoder: it must return a bundle or a typed error, never
//! panic, and whatever it accepts must survive encode → decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomamail_core::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = codec::decode(data) {
        let again = codec::encode(&bundle).expect("a decoded bundle encodes");
        assert_eq!(codec::decode(&again).expect("and decodes again"), bundle);
    }
});
