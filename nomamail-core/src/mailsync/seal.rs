//! Sealing between two paired hosts: NaCl `crypto_box` (X25519 key agreement,
//! XSalsa20-Poly1305), from the RustCrypto `crypto_box` crate. A sealed blob is the 24-byte
//! random nonce followed by the box. Opening authenticates that it was sealed by the holder
//! of the peer's secret key *or ours* (the box key is shared), so callers must also check
//! the sender and recipient named inside (`letter`), or a mail of ours reflected back to us
//! would open.

use crypto_box::aead::Aead;
use crypto_box::{Nonce, PublicKey, SalsaBox, SecretKey};
use std::fmt;
use std::str::FromStr;

const NONCE_LEN: usize = 24;
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the seal does not open: wrong keys, or the mail was altered")]
    BadSeal,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("not a public key: {0}")]
    BadKey(String),
}

/// This host's secret key. Never printed.
pub struct HostKey(SecretKey);

/// A host's public key, as peers know it. Text form: unpadded base64url of the 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub [u8; KEY_LEN]);

impl HostKey {
    pub fn generate() -> Result<HostKey, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(HostKey(SecretKey::from_bytes(bytes)))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> HostKey {
        HostKey(SecretKey::from_bytes(bytes))
    }

    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PeerKey {
        PeerKey(self.0.public_key().to_bytes())
    }

    /// Seals `plaintext` for `to`.
    pub fn seal(&self, to: &PeerKey, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let boxed = SalsaBox::new(&PublicKey::from_bytes(to.0), &self.0)
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| SealError::BadSeal)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + boxed.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&boxed);
        Ok(sealed)
    }

    /// Opens a blob sealed by `from` (or by us for `from`: see the module doc).
    pub fn open(&self, from: &PeerKey, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some((nonce, boxed)) = sealed.split_first_chunk::<NONCE_LEN>() else {
            return Err(SealError::BadSeal);
        };
        SalsaBox::new(&PublicKey::from_bytes(from.0), &self.0)
            .decrypt(&Nonce::from(*nonce), boxed)
            .map_err(|_| SealError::BadSeal)
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostKey(public {})", self.public())
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({self})")
    }
}

impl FromStr for PeerKey {
    type Err = SealError;
    fn from_str(text: &str) -> Result<PeerKey, SealError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| SealError::BadKey(e.to_string()))?;
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| SealError::BadKey(format!("{text:?} is not 32 bytes")))?;
        Ok(PeerKey(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_paired_keys_open_a_seal_and_any_altered_byte_breaks_it() {
        let office = HostKey::generate().unwrap();
        let internet = HostKey::generate().unwrap();
        let stranger = HostKey::generate().unwrap();
        let sealed = office.seal(&internet.public(), b"bundle bytes").unwrap();
        assert_eq!(
            internet.open(&office.public(), &sealed).unwrap(),
            b"bundle bytes"
        );
        assert_eq!(
            stranger.open(&office.public(), &sealed),
            Err(SealError::BadSeal)
        );
        assert_eq!(
            internet.open(&stranger.public(), &sealed),
            Err(SealError::BadSeal)
        );
        for at in [0, 10, 24, 30, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[at] ^= 1;
            assert_eq!(
                internet.open(&office.public(), &altered),
                Err(SealError::BadSeal),
                "byte {at}"
            );
        }
        assert_eq!(
            internet.open(&office.public(), &sealed[..20]),
            Err(SealError::BadSeal)
        );
        let again = office.seal(&internet.public(), b"bundle bytes").unwrap();
        assert_ne!(again, sealed, "every seal takes a fresh nonce");
    }

    #[test]
    fn public_keys_round_trip_as_text() {
        let key = HostKey::generate().unwrap().public();
        let text = key.to_string();
        assert_eq!(text.len(), 43);
        assert_eq!(text.parse::<PeerKey>().unwrap(), key);
        assert!("abc".parse::<PeerKey>().is_err());
        assert!("!!!".parse::<PeerKey>().is_err());
    }
}
