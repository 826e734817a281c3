//! CAPABILITY, and the same list in the greeting and after login (RFC 3501 §6.1.1).

use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use imap_types::auth::AuthMechanism;
use imap_types::core::{Atom, Vec1};
use imap_types::extensions::compress::CompressionAlgorithm;
use imap_types::extensions::quota::Resource;
use imap_types::extensions::sort::SortAlgorithm;
use imap_types::extensions::thread::ThreadingAlgorithm;
use imap_types::response::{Capability, Code, Data};

fn other(name: &'static str) -> Capability<'static> {
    Capability::from(Atom::unvalidated(name))
}

pub fn list(session: &Session) -> Vec1<Capability<'static>> {
    let mut caps = vec![Capability::Imap4Rev1, Capability::LiteralPlus];
    if session.store().is_none() && !session.secure && session.shared.config.tls.is_some() {
        caps.push(Capability::StartTls);
    }
    if session.store().is_none() {
        if session.may_send_password() {
            caps.push(Capability::Auth(AuthMechanism::Plain));
            caps.push(Capability::SaslIr);
        } else {
            caps.push(Capability::LoginDisabled);
        }
    }
    if session.store().is_some() && !session.compressed {
        caps.push(Capability::Compress {
            algorithm: CompressionAlgorithm::Deflate,
        });
    }
    if session.shared.config.quota_kib.is_some() {
        caps.push(Capability::Quota);
        caps.push(Capability::QuotaRes(Resource::Storage));
    }
    caps.extend([
        Capability::Id,
        Capability::Enable,
        Capability::Idle,
        Capability::Namespace,
        Capability::Unselect,
        Capability::UidPlus,
        Capability::Move,
        other("CHILDREN"),
        other("SPECIAL-USE"),
        Capability::CondStore,
        Capability::QResync,
        Capability::Sort(None),
        Capability::Sort(Some(SortAlgorithm::Display)),
        Capability::Thread(ThreadingAlgorithm::OrderedSubject),
        Capability::Thread(ThreadingAlgorithm::References),
        other("ESEARCH"),
        other("SEARCHRES"),
        other("MULTIAPPEND"),
        other("BINARY"),
        other("CATENATE"),
        Capability::ListExtended,
        other("LIST-STATUS"),
    ]);
    Vec1::unvalidated(caps)
}

pub fn run(session: &Session, out: &mut Replies) -> Outcome {
    out.data(Data::Capability(list(session)));
    Outcome::ok("CAPABILITY completed")
}

pub fn greeting(session: &Session) -> Vec<u8> {
    let mut out = Replies::default();
    out.untagged_ok(Some(Code::Capability(list(session))), "NomaMail IMAP ready");
    out.take()
}
