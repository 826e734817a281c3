//! Arbitrary bytes as one command message for the extended-syntax reader (LIST-EXTENDED,
//! SEARCH RETURN): it must read them, refuse them or leave them to imap-codec — never panic,
//! and whatever it reads must be a command imap-codec could encode again.
#![no_main]

use imap_codec::CommandCodec;
use imap_codec::encode::Encoder;
use libfuzzer_sys::fuzz_target;
use nomamail_core::imap::extended;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((command, _extension))) = extended::parse(data) {
        let _ = CommandCodec::default().encode(&command).dump();
    }
});
