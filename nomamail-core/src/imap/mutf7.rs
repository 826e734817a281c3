//! Modified UTF-7 (RFC 3501 §5.1.3): how IMAP4rev1 carries non-ASCII mailbox names on the
//! wire. The engine keeps names as UTF-8; the IMAP front-end converts at its edge.
//!
//! Decoding is strict: a name a conforming client could not have produced (a shifted run
//! holding printable ASCII, two shifted runs back to back, stray bits, a lone surrogate,
//! bytes outside printable ASCII) is an error, so one mailbox never has two spellings.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    #[error("byte {0:#04x} may not appear in a mailbox name on the wire")]
    BadByte(u8),
    #[error("a shifted (&…-) run is not terminated")]
    Unterminated,
    #[error("a shifted run is not valid modified base64")]
    BadBase64,
    #[error("a shifted run is not valid UTF-16")]
    BadUtf16,
    #[error("a shifted run encodes printable ASCII, which must appear as itself")]
    NeedlessShift,
    #[error("two shifted runs follow each other; they must be one")]
    AdjacentShifts,
}

fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c) && c != '&'
}

/// UTF-8 → modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) || c == '&' {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            pending.extend(c.encode_utf16(&mut [0; 2]).iter());
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out.push('-');
}

/// Modified UTF-7 → UTF-8, strictly.
pub fn decode(wire: &str) -> Result<String, Mutf7Error> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    let mut after_shift = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(Mutf7Error::BadByte(b));
            }
            out.push(b as char);
            after_shift = false;
            i += 1;
            continue;
        }
        let end = bytes[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .ok_or(Mutf7Error::Unterminated)?
            + i
            + 1;
        let run = &bytes[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            after_shift = false;
            continue;
        }
        if after_shift {
            return Err(Mutf7Error::AdjacentShifts);
        }
        decode_run(run, &mut out)?;
        after_shift = true;
    }
    Ok(out)
}

fn decode_run(run: &[u8], out: &mut String) -> Result<(), Mutf7Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut bytes = Vec::with_capacity(run.len() * 3 / 4);
    for &c in run {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or(Mutf7Error::BadBase64)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // Leftover bits must be fewer than six and all zero; the bytes must make whole units.
    if nbits >= 6 || bits != 0 || bytes.len() % 2 != 0 {
        return Err(Mutf7Error::BadBase64);
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| Mutf7Error::BadUtf16)?;
        if is_direct(c) || c == '&' {
            return Err(Mutf7Error::NeedlessShift);
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        let check = |utf8: &str, wire: &str| {
            assert_eq!(encode(utf8), wire, "encode {utf8:?}");
            assert_eq!(decode(wire).as_deref(), Ok(utf8), "decode {wire:?}");
        };
        check("INBOX", "INBOX");
        check("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        check("Tom & Jerry", "Tom &- Jerry");
        check("Entwürfe", "Entw&APw-rfe");
        check("Gesendete Objekte", "Gesendete Objekte");
        check("😀", "&2D3eAA-");
        check("", "");
    }

    #[test]
    fn malformed_names_are_refused() {
        let check = |wire: &str, want: Mutf7Error| assert_eq!(decode(wire), Err(want), "{wire:?}");
        check("&U,BTFw", Mutf7Error::Unterminated);
        check("&AGE-", Mutf7Error::NeedlessShift);
        check("&U,B-", Mutf7Error::BadBase64);
        check("&U,BTFw-&ZeVnLIqe-", Mutf7Error::AdjacentShifts);
        check("&2D0-", Mutf7Error::BadUtf16);
        check("&U/BTFw-", Mutf7Error::BadBase64);
        check("a\tb", Mutf7Error::BadByte(b'\t'));
        check("é", Mutf7Error::BadByte(0xc3));
    }

    proptest! {
        #[test]
        fn every_name_round_trips(name in "\\PC{0,24}") {
            let wire = encode(&name);
            prop_assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(decode(&wire), Ok(name));
        }

        #[test]
        fn decoding_never_panics(wire in "[ -~]{0,32}") {
            if let Ok(name) = decode(&wire) {
                prop_assert_eq!(encode(&name), wire);
            }
        }
    }
}
