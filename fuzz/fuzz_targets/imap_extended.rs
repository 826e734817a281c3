//! Arbitrary bytes as one command message for the readers of syntax imap-codec does not
//! read: `$` substitution (SEARCHRES), then LIST-EXTENDED, SEARCH RETURN and MULTIAPPEND.
//! They must read the bytes, refuse them or leave them to imap-codec — never panic — and
//! whatever they read must be a command imap-codec could encode again.
#![no_main]

use imap_codec::CommandCodec;
use imap_codec::encode::Encoder;
use libfuzzer_sys::fuzz_target;
use nomamail_core::imap::{extended, searchres};

fuzz_target!(|data: &[u8]| {
    // A saved result that alternates between empty and a few messages, by the input.
    let saved = |by_uid: bool| match data.len() % 3 {
        0 => Vec::new(),
        _ if by_uid => vec![3, 4, 9],
        _ => vec![1, 2, 5],
    };
    let substituted = searchres::substitute(data, &saved);
    let bytes = substituted.as_ref().map_or(data, |s| &s.bytes[..]);
    if let Ok(Some((command, _extension))) = extended::parse(bytes) {
        let _ = CommandCodec::default().encode(&command).dump();
    }
});
