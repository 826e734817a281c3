//! A sync mail on the wire: one standards-clean MIME message (mail-builder writes it,
//! mail-parser reads it) with a short text part for any human who sees it, the sealed letter
//! as a base64 attachment, and headers that name the sending host's key, the account and the
//! sequence number. The headers only route; the same facts inside the seal are the truth.

use super::seal::PeerKey;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

pub const SYNC_HEADER: &str = "X-NomaMail-Sync";
const SENDER_HEADER: &str = "X-NomaMail-Sender";
const ACCOUNT_HEADER: &str = "X-NomaMail-Account";
const SEQ_HEADER: &str = "X-NomaMail-Seq";
const ATTACHMENT_TYPE: &str = "application/vnd.nomamail.sealed";

/// Headers, text part and MIME framing of a sync mail, generously counted.
pub const MIME_OVERHEAD: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncMailError {
    #[error("not a sync mail (no {SYNC_HEADER} header)")]
    NotSyncMail,
    #[error("sync mail is malformed: {0}")]
    Malformed(String),
}

/// The routing facts of a sync mail, read from its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncMail {
    pub sender: PeerKey,
    pub account: String,
    pub seq: u64,
    pub sealed: Vec<u8>,
}

pub struct Addressing<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to_address: &'a str,
}

/// The largest sealed letter that fits a mail of `max_mail_bytes`: base64 makes 4 bytes of 3,
/// plus a line break per 76 characters.
pub fn sealed_budget(max_mail_bytes: usize) -> usize {
    max_mail_bytes.saturating_sub(MIME_OVERHEAD) / 78 * 57
}

pub fn build(
    addressing: &Addressing<'_>,
    sender: PeerKey,
    account: &str,
    seq: u64,
    sent_ms: u64,
    sealed: &[u8],
) -> Vec<u8> {
    let text = format!(
        "This message carries NomaMail replica data for the account {account}, from the \
         server {name} to its paired server.\r\n\r\nIt is encrypted for that server and is \
         not meant to be read by a person; the server takes it out of the mail flow.\r\n",
        name = addressing.from_name
    );
    let message = MessageBuilder::new()
        .from((addressing.from_name, addressing.from_address))
        .to(addressing.to_address)
        .subject(format!(
            "NomaMail sync {account} #{seq} from {}",
            addressing.from_name
        ))
        .date((sent_ms / 1000) as i64)
        .header(SYNC_HEADER, Raw::new("1"))
        .header(SENDER_HEADER, Raw::new(sender.to_string()))
        .header(ACCOUNT_HEADER, Raw::new(account.to_string()))
        .header(SEQ_HEADER, Raw::new(seq.to_string()))
        // RFC 3834: no auto-replies, vacation notices or bounces to auto-responders.
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(text)
        .attachment(ATTACHMENT_TYPE, format!("sync-{seq}.sealed"), sealed);
    // Writing into a Vec cannot fail.
    message.write_to_vec().unwrap_or_default()
}

/// Whether a mail is sync mail (it must never reach a user's INBOX, valid or not).
pub fn is_sync_mail(raw: &[u8]) -> bool {
    header_block(raw).is_some_and(|headers| {
        headers.split(|&b| b == b'\n').any(|line| {
            line.len() > SYNC_HEADER.len()
                && line[..SYNC_HEADER.len()].eq_ignore_ascii_case(SYNC_HEADER.as_bytes())
                && line[SYNC_HEADER.len()] == b':'
        })
    })
}

fn header_block(raw: &[u8]) -> Option<&[u8]> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    Some(&raw[..end])
}

pub fn parse(raw: &[u8]) -> Result<SyncMail, SyncMailError> {
    if !is_sync_mail(raw) {
        return Err(SyncMailError::NotSyncMail);
    }
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or_else(|| SyncMailError::Malformed("no message".into()))?;
    let header = |name: &'static str| -> Result<String, SyncMailError> {
        message
            .header_raw(name)
            .map(|v| v.trim().to_string())
            .ok_or_else(|| SyncMailError::Malformed(format!("no {name} header")))
    };
    let sender = header(SENDER_HEADER)?
        .parse::<PeerKey>()
        .map_err(|e| SyncMailError::Malformed(e.to_string()))?;
    let account = header(ACCOUNT_HEADER)?;
    let seq = header(SEQ_HEADER)?
        .parse::<u64>()
        .map_err(|e| SyncMailError::Malformed(format!("{SEQ_HEADER}: {e}")))?;
    use mail_parser::MimeHeaders;
    let mut sealed_parts = message.attachments().filter(|part| {
        part.content_type().is_some_and(|ct| {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")) == ATTACHMENT_TYPE
        })
    });
    let sealed = sealed_parts
        .next()
        .ok_or_else(|| SyncMailError::Malformed("no sealed attachment".into()))?
        .contents()
        .to_vec();
    if sealed_parts.next().is_some() {
        return Err(SyncMailError::Malformed(
            "more than one sealed attachment".into(),
        ));
    }
    Ok(SyncMail {
        sender,
        account,
        seq,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addressing() -> Addressing<'static> {
        Addressing {
            from_name: "office",
            from_address: "sync@office.example",
            to_address: "sync@internet.example",
        }
    }

    #[test]
    fn a_sync_mail_is_clean_mime_and_parses_back() {
        let sealed: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let raw = build(
            &addressing(),
            PeerKey([7; 32]),
            "alice",
            12,
            1_700_000_000_000,
            &sealed,
        );
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(text.lines().all(|l| l.len() <= 998), "line length limit");
        assert!(text.is_ascii());
        assert!(text.contains("Auto-Submitted: auto-generated"));
        assert!(text.contains("not meant to be read by a person"));
        assert!(is_sync_mail(&raw));
        let mail = parse(&raw).unwrap();
        assert_eq!(mail.sender, PeerKey([7; 32]));
        assert_eq!(mail.account, "alice");
        assert_eq!(mail.seq, 12);
        assert_eq!(mail.sealed, sealed);
        assert!(raw.len() <= sealed.len() * 4 / 3 + sealed.len() / 57 * 2 + MIME_OVERHEAD);
        assert!(sealed_budget(100_000) * 78 / 57 + MIME_OVERHEAD <= 100_000);
    }

    #[test]
    fn ordinary_mail_is_not_sync_mail() {
        let raw = b"From: a@b\r\nSubject: X-NomaMail-Sync: 1\r\n\r\nX-NomaMail-Sync: 1\r\n";
        assert!(!is_sync_mail(raw));
        assert_eq!(parse(raw), Err(SyncMailError::NotSyncMail));
    }

    #[test]
    fn broken_sync_mail_is_malformed() {
        let raw = b"X-NomaMail-Sync: 1\r\nX-NomaMail-Seq: x\r\n\r\nbody";
        assert!(matches!(parse(raw), Err(SyncMailError::Malformed(_))));
    }
}
