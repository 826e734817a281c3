//! What a sealed sync mail carries: who sent it to whom (repeated inside the seal, so headers
//! cannot be swapped), its sequence number for replay protection, the account it is about,
//! and, when there is one, an engine bundle. A letter without a bundle is a hello: it tells
//! the peer which replica serves the account here, so the peer can start sending.

use super::seal::{KEY_LEN, PeerKey};
use crate::ids::ReplicaId;
use serde::{Deserialize, Serialize};

const LETTER_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LetterError {
    #[error("the letter is not valid CBOR of the expected shape: {0}")]
    Malformed(String),
    #[error("letter format version {0} is not supported")]
    Version(u8),
}

/// The account as the sending host knows it: enough for the receiving host to create the
/// same account (same seed, hence the same genesis mailboxes and UIDVALIDITY) if it lacks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCard {
    pub user: String,
    pub seed: u64,
    /// The password's argon2id PHC string and when it was set (ms since the epoch); the
    /// later one wins on both hosts.
    pub password_hash: String,
    pub password_set_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    pub version: u8,
    pub from: [u8; KEY_LEN],
    pub to: [u8; KEY_LEN],
    pub seq: u64,
    pub sent_ms: u64,
    pub account: AccountCard,
    /// The sender's replica of the account.
    pub replica: ReplicaId,
    #[serde(with = "serde_bytes")]
    pub bundle: Option<Vec<u8>>,
}

impl Letter {
    pub fn new(
        from: PeerKey,
        to: PeerKey,
        seq: u64,
        sent_ms: u64,
        account: AccountCard,
        replica: ReplicaId,
        bundle: Option<Vec<u8>>,
    ) -> Letter {
        Letter {
            version: LETTER_VERSION,
            from: from.0,
            to: to.0,
            seq,
            sent_ms,
            account,
            replica,
            bundle,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing plain structs into a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    /// Decodes a letter. Only called on the contents of a seal that opened, so the bytes
    /// come from a paired host; their size is bounded by the mail size limit.
    pub fn decode(bytes: &[u8]) -> Result<Letter, LetterError> {
        let letter: Letter =
            ciborium::from_reader(bytes).map_err(|e| LetterError::Malformed(e.to_string()))?;
        if letter.version != LETTER_VERSION {
            return Err(LetterError::Version(letter.version));
        }
        Ok(letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_round_trips_and_garbage_is_refused() {
        let letter = Letter::new(
            PeerKey([1; 32]),
            PeerKey([2; 32]),
            7,
            1_000,
            AccountCard {
                user: "alice".into(),
                seed: 42,
                password_hash: "$argon2id$x".into(),
                password_set_ms: 5,
            },
            ReplicaId(9),
            Some(vec![1, 2, 3]),
        );
        let bytes = letter.encode();
        assert_eq!(Letter::decode(&bytes).unwrap(), letter);
        assert!(matches!(
            Letter::decode(&bytes[..bytes.len() / 2]),
            Err(LetterError::Malformed(_))
        ));
        let mut future = letter.clone();
        future.version = 2;
        assert_eq!(
            Letter::decode(&future.encode()),
            Err(LetterError::Version(2))
        );
    }
}
