//! The bundle wire format, and the only place bundles are turned into bytes and back.
//!
//! Layout: `NOMA` magic, a big-endian u16 format version, a u32 length of the decoded body,
//! then the body: CBOR (through serde, by `ciborium`) compressed with zstd. Decoding trusts
//! nothing: sizes are bounded before any allocation, zstd decompresses into a capped buffer,
//! CBOR nesting is limited, and the decoded bundle is checked for structural sense. Any
//! failure is a typed error and yields no bundle, so nothing of it can be applied.

use crate::bundle::Bundle;

pub const MAGIC: [u8; 4] = *b"NOMA";
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 4 + 2 + 4;
/// Largest encoded bundle accepted. Transports split far below this.
pub const MAX_WIRE_BYTES: usize = 64 << 20;
/// Largest decoded body accepted: bounds the zstd output buffer.
pub const MAX_BODY_BYTES: usize = 128 << 20;
/// Deep enough for any bundle we write, shallow enough that hostile nesting cannot exhaust the stack.
const CBOR_RECURSION_LIMIT: usize = 32;
const ZSTD_LEVEL: i32 = 3;
pub const MAX_BLOB_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("bundle too short ({0} bytes)")]
    Truncated(usize),
    #[error("not a NomaMail bundle (bad magic)")]
    BadMagic,
    #[error("bundle format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion(u16),
    #[error("bundle of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("bundle body does not decompress: {0}")]
    Decompress(String),
    #[error("bundle body is {actual} bytes, header says {declared}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("bundle body is not valid CBOR for a bundle: {0}")]
    Cbor(String),
    #[error("bundle is malformed: {0}")]
    Malformed(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("bundle encoding failed: {0}")]
    Cbor(String),
    #[error("bundle compression failed: {0}")]
    Compress(String),
    #[error("bundle of {0} bytes exceeds the wire limit")]
    TooLarge(usize),
}

pub fn encode(bundle: &Bundle) -> Result<Vec<u8>, EncodeError> {
    let mut body = Vec::new();
    ciborium::into_writer(bundle, &mut body).map_err(|e| EncodeError::Cbor(e.to_string()))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(EncodeError::TooLarge(body.len()));
    }
    let packed = zstd::bulk::compress(&body, ZSTD_LEVEL)
        .map_err(|e| EncodeError::Compress(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + packed.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    // Bounded by MAX_BODY_BYTES above, so it fits in u32.
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&packed);
    if out.len() > MAX_WIRE_BYTES {
        return Err(EncodeError::TooLarge(out.len()));
    }
    Ok(out)
}

pub fn decode(bytes: &[u8]) -> Result<Bundle, DecodeError> {
    if bytes.len() > MAX_WIRE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or(DecodeError::Truncated(bytes.len()))?;
    if header[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = u16::from_be_bytes([header[4], header[5]]);
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let declared = u32::from_be_bytes([header[6], header[7], header[8], header[9]]) as usize;
    if declared > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge(declared));
    }
    let body = zstd::bulk::decompress(&bytes[HEADER_LEN..], declared)
        .map_err(|e| DecodeError::Decompress(e.to_string()))?;
    if body.len() != declared {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: body.len(),
        });
    }
    let bundle: Bundle =
        ciborium::de::from_reader_with_recursion_limit(body.as_slice(), CBOR_RECURSION_LIMIT)
            .map_err(|e| DecodeError::Cbor(e.to_string()))?;
    validate(&bundle)?;
    Ok(bundle)
}

/// Bundles name at most this many purged messages (the sender sends its list in parts).
pub const MAX_PURGED_PER_BUNDLE: usize = 1024;

/// Structural sense that serde cannot express, for the bundle as a whole. Checks of one item
/// (is it well formed, does it merge) belong to the replica, which quarantines that item and
/// applies the rest, so one bad item cannot stall a link.
fn validate(b: &Bundle) -> Result<(), DecodeError> {
    if b.from == b.to {
        return Err(DecodeError::Malformed(
            "sender and receiver are the same replica",
        ));
    }
    if b.range.is_some_and(|r| r.base > r.high) {
        return Err(DecodeError::Malformed("sequence range runs backwards"));
    }
    if b.range.is_none() && !b.items.is_empty() {
        return Err(DecodeError::Malformed("items without a sequence range"));
    }
    if b.forgotten && (b.range.is_some() || !b.chunks.is_empty()) {
        return Err(DecodeError::Malformed(
            "a notice of being forgotten that carries changes",
        ));
    }
    for c in &b.chunks {
        let end = c.offset.checked_add(c.data.len() as u64);
        if c.total > MAX_BLOB_BYTES || end.is_none_or(|e| e > c.total) || c.data.is_empty() {
            return Err(DecodeError::Malformed("blob chunk out of bounds"));
        }
    }
    if b.ack.purged.len() > MAX_PURGED_PER_BUNDLE {
        return Err(DecodeError::Malformed("too many purged messages named"));
    }
    if b.ack.wants.iter().any(|w| w.have > MAX_BLOB_BYTES) {
        return Err(DecodeError::Malformed("want beyond the blob size limit"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Ack, Chunk, SeqRange, Want};
    use crate::ids::{BlobHash, Dot, ItemId, ReplicaId};
    use crate::item::{Body, ItemState, MailboxState, Removal};
    use crate::reg::Reg;

    fn sample() -> Bundle {
        let d = Dot::new(ReplicaId(1), 3);
        Bundle {
            from: ReplicaId(1),
            to: ReplicaId(2),
            generation: 7,
            range: Some(SeqRange { base: 0, high: 3 }),
            items: vec![ItemState {
                id: ItemId(d),
                ctx: [d].into_iter().collect(),
                body: Body::Mailbox(MailboxState {
                    uidvalidity: 99,
                    imported_uidvalidity: Reg::default(),
                    uidnext: 1,
                    name: Reg::new(d, "Work".into()),
                    subscribed: Reg::new(d, true),
                    special_use: Reg::new(d, None),
                    removal: Reg::new(d, Removal::Kept),
                }),
            }],
            chunks: vec![Chunk {
                hash: BlobHash([5; 32]),
                total: 4,
                offset: 1,
                data: vec![1, 2, 3],
            }],
            ack: Ack {
                through: 5,
                wants: vec![Want {
                    hash: BlobHash([6; 32]),
                    have: 0,
                }],
                purged: Vec::new(),
            },
            sender_clock: 0,
            forgotten: false,
        }
    }

    #[test]
    fn round_trip_decode_encode_decode() {
        let wire = encode(&sample()).unwrap();
        let once = decode(&wire).unwrap();
        assert_eq!(once, sample());
        let again = decode(&encode(&once).unwrap()).unwrap();
        assert_eq!(again, once);
    }

    /// Pins the header and the CBOR body so an accidental format change fails loudly.
    #[test]
    fn known_answer_header_and_body() {
        let wire = encode(&sample()).unwrap();
        assert_eq!(&wire[..6], b"NOMA\x00\x01");
        let declared = u32::from_be_bytes(wire[6..10].try_into().unwrap()) as usize;
        let body = zstd::bulk::decompress(&wire[10..], declared).unwrap();
        let hash = blake3::hash(&body).to_hex().to_string();
        assert_eq!(body.len(), declared);
        assert_eq!(
            &hash[..16],
            KNOWN_BODY_HASH_PREFIX,
            "body length {}",
            body.len()
        );
    }
    const KNOWN_BODY_HASH_PREFIX: &str = "4df232224d0acc83";

    #[test]
    fn hostile_input_is_rejected_with_a_typed_error() {
        let wire = encode(&sample()).unwrap();
        assert_eq!(decode(b"NOM"), Err(DecodeError::Truncated(3)));
        assert_eq!(
            decode(b"XXXX\x00\x01\x00\x00\x00\x00"),
            Err(DecodeError::BadMagic)
        );
        let mut v2 = wire.clone();
        v2[5] = 2;
        assert_eq!(decode(&v2), Err(DecodeError::UnsupportedVersion(2)));
        let mut huge = wire.clone();
        huge[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&huge), Err(DecodeError::TooLarge(_))));
        let mut short_len = wire.clone();
        short_len[9] = short_len[9].wrapping_sub(1);
        assert!(decode(&short_len).is_err());
        for cut in 10..wire.len() {
            assert!(decode(&wire[..cut]).is_err(), "truncated at {cut}");
        }
        let mut flipped = wire.clone();
        for i in 10..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = decode(&flipped);
            flipped[i] ^= 0x55;
        }
    }

    #[test]
    fn structurally_wrong_bundles_are_refused() {
        let mut same = sample();
        same.to = same.from;
        assert_eq!(
            decode(&encode(&same).unwrap()),
            Err(DecodeError::Malformed(
                "sender and receiver are the same replica"
            ))
        );
        let mut chunk = sample();
        chunk.chunks[0].offset = 3;
        assert!(matches!(
            decode(&encode(&chunk).unwrap()),
            Err(DecodeError::Malformed(_))
        ));
        // One ill-formed item leaves the bundle whole: the replica quarantines the item.
        let mut item = sample();
        item.items[0].ctx = Default::default();
        assert_eq!(decode(&encode(&item).unwrap()), Ok(item));
    }

    #[test]
    fn deeply_nested_cbor_is_refused_without_overflowing_the_stack() {
        let body = vec![0x81u8; 100_000];
        let mut wire = Vec::new();
        wire.extend_from_slice(&MAGIC);
        wire.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
        wire.extend_from_slice(&zstd::bulk::compress(&body, 1).unwrap());
        assert!(matches!(decode(&wire), Err(DecodeError::Cbor(_))));
    }
}
