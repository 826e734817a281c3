//! What a command sends back: untagged data encoded as it is produced, then one tagged status.

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_types::core::{Tag, Text};
use imap_types::response::{Code, CodeOther, Data, Response, Status};

/// Streaming replies hand over their bytes in pieces of about this size.
const PIECE_BYTES: usize = 256 << 10;

/// The encoded bytes owed to the client, in order.
#[derive(Default)]
pub struct Replies {
    bytes: Vec<u8>,
    /// Where pieces go while the command runs, if the connection streams.
    pieces: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// The connection went away mid-command: what is left has no reader.
    discarding: bool,
}

impl Replies {
    pub fn streaming(pieces: tokio::sync::mpsc::Sender<Vec<u8>>) -> Replies {
        Replies {
            bytes: Vec::new(),
            pieces: Some(pieces),
            discarding: false,
        }
    }

    pub fn data(&mut self, data: Data<'_>) {
        self.response(&Response::Data(data));
    }

    pub fn response(&mut self, response: &Response<'_>) {
        self.bytes
            .extend(ResponseCodec::default().encode(response).dump());
        self.hand_over();
    }

    /// Bytes already in wire form (what imap-types has no type for).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.hand_over();
    }

    /// Streaming: past the threshold, what is owed goes to the connection.
    fn hand_over(&mut self) {
        if let Some(pieces) = &self.pieces
            && self.bytes.len() >= PIECE_BYTES
        {
            let piece = std::mem::take(&mut self.bytes);
            // Blocks this (blocking-pool) thread until the connection has room.
            if !self.discarding {
                self.discarding = pieces.blocking_send(piece).is_err();
            }
        }
    }

    pub fn untagged_ok(&mut self, code: Option<Code<'_>>, text: &str) {
        let Ok(status) = Status::ok(None, code, text_or_default(text));
        self.response(&Response::Status(status));
    }

    pub fn bye(&mut self, text: &str) {
        let Ok(status) = Status::bye(None, text_or_default(text));
        self.response(&Response::Status(status));
    }

    pub fn tagged(&mut self, tag: &Tag<'_>, outcome: Outcome) {
        let tag = Some(tag.clone());
        let status = match outcome {
            Outcome::Ok { code, text } => Status::ok(tag, code, text_or_default(&text)),
            Outcome::No { code, text } => Status::no(tag, code, text_or_default(&text)),
            Outcome::Bad(text) => Status::bad(tag, None, text_or_default(&text)),
        };
        let Ok(status) = status;
        self.response(&Response::Status(status));
    }

    /// `* BAD` for input that has no usable tag.
    pub fn untagged_bad(&mut self, text: &str) {
        let Ok(status) = Status::bad(None, None, text_or_default(text));
        self.response(&Response::Status(status));
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// Status text must be non-empty and free of CR/LF; anything else is replaced, never sent.
fn text_or_default(text: &str) -> Text<'static> {
    let cleaned: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Text::try_from(cleaned).unwrap_or_else(|_| Text::unvalidated("completed"))
}

/// The tagged result of one command.
#[derive(Debug)]
pub enum Outcome {
    Ok {
        code: Option<Code<'static>>,
        text: String,
    },
    No {
        code: Option<Code<'static>>,
        text: String,
    },
    Bad(String),
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome::Ok {
            code: None,
            text: text.into(),
        }
    }

    pub fn ok_with(code: Code<'static>, text: impl Into<String>) -> Outcome {
        Outcome::Ok {
            code: Some(code),
            text: text.into(),
        }
    }

    pub fn no(text: impl Into<String>) -> Outcome {
        Outcome::No {
            code: None,
            text: text.into(),
        }
    }

    pub fn no_with(code: Code<'static>, text: impl Into<String>) -> Outcome {
        Outcome::No {
            code: Some(code),
            text: text.into(),
        }
    }

    pub fn bad(text: impl Into<String>) -> Outcome {
        Outcome::Bad(text.into())
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

/// A response code imap-types has no variant for (RFC 5530 and friends).
pub fn code(atom: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(atom.as_bytes()))
}

impl From<crate::Error> for Outcome {
    fn from(error: crate::Error) -> Outcome {
        use crate::Error;
        match &error {
            Error::NoSuchMailbox(_) | Error::NoSuchMailboxId(_) => {
                Outcome::no_with(code("NONEXISTENT"), error.to_string())
            }
            Error::MailboxExists(_) => Outcome::no_with(code("ALREADYEXISTS"), error.to_string()),
            Error::MessageTooLarge(_) => Outcome::no_with(Code::TooBig, error.to_string()),
            Error::InvalidMailboxName(_) | Error::InboxIsPermanent => {
                Outcome::no_with(code("CANNOT"), error.to_string())
            }
            Error::TooManyFlags | Error::MailboxFull(_) => {
                Outcome::no_with(code("LIMIT"), error.to_string())
            }
            Error::BlobMissing(_) => Outcome::no_with(code("UNAVAILABLE"), error.to_string()),
            Error::Store(_) | Error::Io(_) | Error::Corrupt(_) | Error::Locked(_) => {
                Outcome::no_with(code("SERVERBUG"), "the mail store failed; try again")
            }
            _ => Outcome::no(error.to_string()),
        }
    }
}
