//! A client session's state (RFC 3501 §3): what it is logged in as, the mailbox it has
//! selected and what the client has been told of it. Handlers in `commands` take it; the
//! dispatch in `session` runs them, so the dependency runs one way: session → commands →
//! state.

use super::config::ServerConfig;
use super::mailstores::{Mailstore, Mailstores};
use super::reply::Replies;
use super::view::SelectedView;
use super::wire;
use crate::ids::MailboxId;
use imap_types::core::Vec1;
use imap_types::fetch::MessageDataItem;
use imap_types::response::Data;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub enum State {
    NotAuthenticated,
    Authenticated {
        store: Arc<Mailstore>,
    },
    Selected {
        store: Arc<Mailstore>,
        selected: Box<Selected>,
    },
    Logout,
}

pub struct Selected {
    pub mailbox: MailboxId,
    pub read_only: bool,
    pub view: SelectedView,
    /// The store version the view was last brought up to.
    pub seen_version: u64,
    /// The store's highest modseq when the view last looked: the next look asks for the
    /// changes after it.
    pub seen_modseq: u64,
    /// Keywords the client has been told of in FLAGS; a FETCH may show no other.
    pub announced: std::collections::BTreeSet<String>,
    /// The messages this session holds as `\Recent`.
    pub recent: super::recent::Recent,
    /// RFC 5182 `$`: the UIDs the last `SEARCH RETURN (SAVE)` found, ascending. Messages
    /// that have left the view since are skipped when `$` is read.
    pub saved: Vec<u32>,
}

impl Selected {
    /// Takes the messages up to `upto` as recent for this session (SELECT), or, read-only
    /// (EXAMINE), looks at what no session has claimed yet without claiming it.
    pub fn take_recent(&mut self, store: &Mailstore, upto: u32) {
        let mailbox = self.mailbox;
        let horizon = if self.read_only {
            store.read(|r| r.recent_horizon(mailbox))
        } else {
            store.read(|r| r.claim_recent(mailbox, upto))
        };
        if let Ok(horizon) = horizon {
            self.recent.add(horizon.saturating_add(1), upto);
        }
    }

    /// `$` as the command counts: the saved messages still in the view, ascending.
    pub fn saved_numbers(&self, by_uid: bool) -> Vec<u32> {
        let messages = self.view.messages();
        self.saved
            .iter()
            .filter_map(|&uid| {
                let at = messages.binary_search_by_key(&uid, |m| m.uid).ok()?;
                Some(if by_uid { uid } else { at as u32 + 1 })
            })
            .collect()
    }

    /// Before flags go out: if they hold keywords the client was not told of, send the
    /// mailbox's FLAGS and PERMANENTFLAGS again first (RFC 3501 §7.2.6).
    pub fn announce<'a>(&mut self, out: &mut Replies, flags: impl IntoIterator<Item = &'a String>) {
        let mut new = false;
        for flag in flags {
            if !flag.starts_with('\\') && !self.announced.contains(flag) {
                self.announced.insert(flag.clone());
                new = true;
            }
        }
        if new {
            mailbox_flags(out, &self.announced);
        }
    }
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` for these keywords.
pub fn mailbox_flags(out: &mut Replies, keywords: &std::collections::BTreeSet<String>) {
    use imap_types::flag::{Flag, FlagPerm};
    let mut flags = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    flags.extend(keywords.iter().filter_map(|k| wire::flag(k)));
    out.data(Data::Flags(flags.clone()));
    let mut permanent: Vec<FlagPerm> = flags.into_iter().map(FlagPerm::Flag).collect();
    permanent.push(FlagPerm::Asterisk);
    out.untagged_ok(
        Some(imap_types::response::Code::PermanentFlags(permanent)),
        "flags are kept",
    );
}

/// What a server shares with all its sessions.
pub struct Shared {
    pub stores: Arc<Mailstores>,
    pub config: ServerConfig,
    pub throttle: super::throttle::Throttle,
    pub literals: super::budget::LiteralBudget,
}

pub struct Session {
    pub state: State,
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    /// TLS is up (implicit, or after STARTTLS).
    pub secure: bool,
    /// RFC 7162: once enabled (or implied by a CONDSTORE-aware command), FETCH responses
    /// carry MODSEQ.
    pub condstore: bool,
    pub qresync: bool,
    /// COMPRESS=DEFLATE is on (the connection does the compressing).
    pub compressed: bool,
    /// The command runs on the connection's task (`answers_from_view`): it must not touch
    /// the store, so it answers from the view and leaves catching up to the next command.
    pub from_view: bool,
}

/// What the connection loop must do after a command.
#[derive(Default)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub logout: bool,
    /// Held back before sending, to slow down password guessing.
    pub delay: Option<Duration>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, peer: SocketAddr, secure: bool) -> Session {
        Session {
            state: State::NotAuthenticated,
            shared,
            peer,
            secure,
            condstore: false,
            qresync: false,
            compressed: false,
            from_view: false,
        }
    }

    /// Plaintext passwords are refused on a connection that is neither encrypted nor local.
    pub fn may_send_password(&self) -> bool {
        self.secure || self.shared.config.plaintext_allowed(self.peer)
    }

    pub fn store(&self) -> Option<&Arc<Mailstore>> {
        match &self.state {
            State::Authenticated { store } | State::Selected { store, .. } => Some(store),
            _ => None,
        }
    }

    /// Whether `command` is a FETCH of UID, FLAGS or MODSEQ (no VANISHED) that the selected
    /// view can answer as it stands, without the store: the store has not changed since the
    /// view last caught up. (A change racing this answer is caught up after it, as always.)
    pub fn answers_from_view(&self, command: &imap_types::command::Command<'_>) -> bool {
        use imap_types::command::{CommandBody, FetchModifier};
        use imap_types::fetch::MacroOrMessageDataItemNames;
        let State::Selected { store, selected } = &self.state else {
            return false;
        };
        let CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
            modifiers,
            ..
        } = &command.body
        else {
            return false;
        };
        super::view::holds_all(names.as_ref())
            && !modifiers.contains(&FetchModifier::Vanished)
            && store.version() == selected.seen_version
            && !selected.view.holds_expunges()
    }

    /// `$` for `searchres::substitute`: nothing when no mailbox is selected.
    pub fn saved_numbers(&self, by_uid: bool) -> Vec<u32> {
        match &self.state {
            State::Selected { selected, .. } => selected.saved_numbers(by_uid),
            _ => Vec::new(),
        }
    }
}

/// `* seq FETCH (UID uid FLAGS (...) [MODSEQ (m)])`.
pub fn flags_fetch(
    out: &mut Replies,
    seq: u32,
    uid: u32,
    flags: &[String],
    recent: bool,
    modseq: Option<u64>,
) {
    let (Some(seq), Some(uid)) = (NonZeroU32::new(seq), NonZeroU32::new(uid)) else {
        return;
    };
    let mut items = vec![
        MessageDataItem::Uid(uid),
        MessageDataItem::Flags(wire::fetch_flags(flags, recent)),
    ];
    if let Some(modseq) = modseq.and_then(std::num::NonZeroU64::new) {
        items.push(MessageDataItem::ModSeq(modseq));
    }
    if let Ok(items) = Vec1::try_from(items) {
        out.data(Data::Fetch { seq, items });
    }
}
