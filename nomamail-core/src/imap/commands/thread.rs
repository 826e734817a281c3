//! THREAD and UID THREAD (RFC 5256): a search, then its matches threaded by ORDEREDSUBJECT
//! or REFERENCES (`imap::thread`), from the fields the message summaries keep.

use super::search;
use super::sort::sent_date;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use crate::imap::thread::{self, ThreadMessage};
use imap_types::core::{Charset, Vec1};
use imap_types::extensions::thread::ThreadingAlgorithm;
use imap_types::response::Data;
use imap_types::search::SearchKey;

pub fn run(
    session: &mut Session,
    algorithm: ThreadingAlgorithm<'_>,
    charset: Charset<'_>,
    search_criteria: Vec1<SearchKey<'_>>,
    by_uid: bool,
    out: &mut Replies,
) -> Outcome {
    let by_references = match algorithm {
        ThreadingAlgorithm::OrderedSubject => false,
        ThreadingAlgorithm::References => true,
        ThreadingAlgorithm::Other(_) => {
            return Outcome::bad("threading algorithms: ORDEREDSUBJECT and REFERENCES");
        }
    };
    if let Err(outcome) = search::check_charset(Some(&charset)) {
        return outcome;
    }
    let found = match search::matching(session, search_criteria, true) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let Some(store) = session.store().cloned() else {
        return Outcome::bad("select a mailbox first");
    };
    let messages = store.read(|r| {
        found
            .messages
            .iter()
            .map(|(seq, entry)| {
                let fields = r.summary(entry.blob)?.map(|s| s.fields).unwrap_or_default();
                let sent = sent_date(fields.sent, entry);
                Ok(ThreadMessage {
                    number: if by_uid { entry.uid } else { *seq },
                    message_id: fields.message_id,
                    references: fields.references,
                    in_reply_to: fields.in_reply_to,
                    subject: fields.subject,
                    sent,
                })
            })
            .collect::<crate::Result<Vec<_>>>()
    });
    let messages = match messages {
        Ok(messages) => messages,
        Err(error) => return error.into(),
    };
    let threads = if by_references {
        thread::references(&messages)
    } else {
        thread::ordered_subject(&messages)
    };
    out.data(Data::Thread(thread::to_imap(&threads)));
    Outcome::ok("THREAD completed")
}
