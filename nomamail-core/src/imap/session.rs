//! One client's session at work: the one `match` that sends each command to its handler in
//! `commands`, and `catch_up`, which tells the client what changed (the state they share is
//! in `state`). Handlers are synchronous and run off the async reactor; the
//! connection loop (`connection.rs`) does all the waiting.

use super::commands;
use super::extended::Extension;
use super::reply::{Outcome, Replies};
use super::state::{Reply, Session, State, flags_fetch};
use super::view::{Change, Known, Update};
use imap_types::command::{Command, CommandBody};
use imap_types::response::Data;

impl Session {
    /// Runs a command `answers_from_view` accepted, without the store.
    pub fn handle_from_view(&mut self, command: Command<'static>) -> Reply {
        self.from_view = true;
        let reply = self.run(command, None, Replies::default());
        self.from_view = false;
        reply
    }

    pub fn handle(&mut self, command: Command<'static>) -> Reply {
        self.run(command, None, Replies::default())
    }

    /// As `handle`, but untagged data past a threshold is handed to `pieces` as it is made,
    /// blocking while the connection has not sent the earlier pieces.
    /// `extension`: what extended syntax (`imap::extended`) added to the command.
    pub fn handle_streaming(
        &mut self,
        command: Command<'static>,
        extension: Option<Extension>,
        pieces: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Reply {
        self.run(command, extension, Replies::streaming(pieces))
    }

    fn run(
        &mut self,
        command: Command<'static>,
        extension: Option<Extension>,
        mut out: Replies,
    ) -> Reply {
        let mut reply = Reply::default();
        let tag = command.tag.clone();
        let allow_expunge = !matches!(
            command.body,
            CommandBody::Fetch { .. }
                | CommandBody::Store { .. }
                | CommandBody::Search { .. }
                | CommandBody::Sort { .. }
                | CommandBody::Thread { .. }
        );
        let outcome = self.dispatch(&tag, command.body, extension, &mut out, &mut reply);
        if !matches!(self.state, State::Logout) && !self.from_view {
            self.catch_up(&mut out, allow_expunge);
        }
        out.tagged(&tag, outcome);
        reply.logout = matches!(self.state, State::Logout);
        reply.bytes = out.take();
        reply
    }

    fn dispatch(
        &mut self,
        tag: &imap_types::core::Tag<'static>,
        body: CommandBody<'static>,
        extension: Option<Extension>,
        out: &mut Replies,
        reply: &mut Reply,
    ) -> Outcome {
        use CommandBody as C;
        use commands::*;
        let authenticated = self.store().is_some();
        let selected = matches!(self.state, State::Selected { .. });
        if selected && extension == Some(Extension::NothingSaved) {
            return Outcome::ok("the saved search result is empty: no message is named");
        }
        match body {
            C::Capability => capability::run(self, out),
            C::Noop | C::Check => noop::run(),
            C::Logout => logout::run(self, out),
            C::StartTLS => Outcome::bad("STARTTLS is handled by the connection"),
            C::Login { username, password } => login::run(self, username, password, reply),
            C::Authenticate {
                mechanism,
                initial_response,
            } => authenticate::run(self, mechanism, initial_response, reply),
            C::Id { parameters } => id::run(parameters, out),
            C::Enable { capabilities } if authenticated => enable::run(self, capabilities, out),
            C::Namespace if authenticated => namespace::run(out),
            C::Select {
                mailbox,
                parameters,
            } if authenticated => select::run(self, mailbox, parameters, false, out),
            C::Examine {
                mailbox,
                parameters,
            } if authenticated => select::run(self, mailbox, parameters, true, out),
            C::Create { mailbox } if authenticated => create::run(self, mailbox),
            C::Delete { mailbox } if authenticated => delete::run(self, mailbox),
            C::Rename { from, to } if authenticated => rename::run(self, from, to),
            C::Subscribe { mailbox } if authenticated => subscribe::run(self, mailbox, true),
            C::Unsubscribe { mailbox } if authenticated => subscribe::run(self, mailbox, false),
            C::List {
                reference,
                mailbox_wildcard,
            } if authenticated => match extension {
                Some(Extension::List(options)) => {
                    list::run_extended(self, reference, mailbox_wildcard, options, out)
                }
                _ => list::run(self, reference, mailbox_wildcard, false, out),
            },
            C::Lsub {
                reference,
                mailbox_wildcard,
            } if authenticated => list::run(self, reference, mailbox_wildcard, true, out),
            C::Status {
                mailbox,
                item_names,
            } if authenticated => status::run(self, mailbox, &item_names, out),
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } if authenticated => {
                let messages = match extension {
                    Some(Extension::Append(all)) => all,
                    _ => vec![super::extended::AppendMessage {
                        flags,
                        date,
                        data: super::extended::AppendData::Literal(message),
                    }],
                };
                append::run(self, mailbox, messages)
            }
            C::Idle => Outcome::bad("IDLE is handled by the connection"),
            C::Close if selected => close::run(self, true),
            C::Unselect if selected => close::run(self, false),
            C::Expunge if selected => expunge::run(self, None, out),
            C::ExpungeUid { sequence_set } if selected => {
                expunge::run(self, Some(sequence_set), out)
            }
            C::Search {
                charset,
                criteria,
                uid,
            } if selected => match extension {
                Some(Extension::Search(returns)) => {
                    search::run_esearch(self, tag, charset, criteria, uid, &returns, out)
                }
                _ => search::run(self, charset, criteria, uid, out),
            },
            C::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } if selected => {
                fetch::run(self, sequence_set, macro_or_item_names, uid, modifiers, out)
            }
            C::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } if selected => store::run(
                self,
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
                out,
            ),
            C::Copy {
                sequence_set,
                mailbox,
                uid,
            } if selected => copy::run(self, sequence_set, mailbox, uid, false, out),
            C::Move {
                sequence_set,
                mailbox,
                uid,
            } if selected => copy::run(self, sequence_set, mailbox, uid, true, out),
            C::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } if selected => sort::run(self, sort_criteria, charset, search_criteria, uid, out),
            C::Compress { .. } => Outcome::bad("COMPRESS is handled by the connection"),
            C::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } if selected => thread::run(self, algorithm, charset, search_criteria, uid, out),
            C::GetQuotaRoot { mailbox } if authenticated => {
                quota::get_quota_root(self, mailbox, out)
            }
            C::GetQuota { root } if authenticated => quota::get_quota(self, root, out),
            C::SetQuota { .. } if authenticated => Outcome::no_with(
                crate::imap::reply::code("NOPERM"),
                "quotas are set in the server's configuration",
            ),
            _ if !authenticated => Outcome::bad("log in first"),
            _ => Outcome::bad("select a mailbox first"),
        }
    }

    /// Tells the client what changed in its selected mailbox since it last heard, if anything.
    pub fn catch_up(&mut self, out: &mut Replies, allow_expunge: bool) {
        let condstore = self.condstore;
        let qresync = self.qresync;
        let State::Selected { store, selected } = &mut self.state else {
            return;
        };
        let version = store.version();
        let owed = allow_expunge && selected.view.holds_expunges();
        if version == selected.seen_version && !owed {
            return;
        }
        let mailbox = selected.mailbox;
        let since = selected.seen_modseq;
        let read = store.read(|r| {
            let highest = r.highest_modseq();
            let changes = match r.entry_changes_since(since)? {
                Some(changes) => changes
                    .into_iter()
                    .map(|change| match change {
                        crate::EntryChange::Live(entry) if entry.mailbox == mailbox => {
                            Change::Present(Known::from(entry))
                        }
                        crate::EntryChange::Live(entry) => Change::Absent(entry.id),
                        crate::EntryChange::Gone(id) => Change::Absent(id),
                    })
                    .collect(),
                // The change log no longer reaches back: compare with the whole mailbox.
                None => {
                    let now = r.entries(mailbox)?.into_iter().map(Known::from).collect();
                    selected.view.changes_to(now)
                }
            };
            Ok::<_, crate::Error>((highest, changes))
        });
        let Ok((highest, changes)) = read else {
            return;
        };
        let highest_before = selected.view.messages().last().map_or(0, |m| m.uid);
        let updates = selected.view.catch_up(changes, allow_expunge);
        selected.seen_version = version;
        selected.seen_modseq = highest;
        // RFC 7162 §3.2.10: once QRESYNC is on, expunges are reported by UID, in one VANISHED.
        // The view lists every expunge before any other update.
        let mut vanished: Vec<u32> = updates
            .iter()
            .filter_map(|u| match u {
                Update::Expunge { uid, .. } if qresync => Some(*uid),
                _ => None,
            })
            .collect();
        vanished.sort_unstable();
        if let Some(known_uids) = commands::sequence_set(&vanished) {
            out.data(Data::Vanished {
                earlier: false,
                known_uids,
            });
        }
        for update in updates {
            match update {
                Update::Expunge { .. } if qresync => {}
                Update::Expunge { seq, .. } => {
                    if let Ok(data) = Data::expunge(seq) {
                        out.data(data);
                    }
                }
                Update::Exists(n) => {
                    // The client will fetch the new messages' flags: tell it their keywords.
                    let arrived: Vec<String> = selected
                        .view
                        .messages()
                        .iter()
                        .rev()
                        .take_while(|m| m.uid > highest_before)
                        .flat_map(|m| m.flags.iter().cloned())
                        .collect();
                    selected.announce(out, &arrived);
                    out.data(Data::Exists(n));
                    let upto = selected.view.messages().last().map_or(0, |m| m.uid);
                    selected.take_recent(store, upto);
                    out.data(Data::Recent(selected.recent.count(&selected.view)));
                }
                Update::Flags { seq, uid, flags } => {
                    selected.announce(out, &flags);
                    let modseq = selected
                        .view
                        .messages()
                        .get(seq as usize - 1)
                        .map_or(0, |m| m.modseq);
                    let modseq = store.wire_modseq(modseq);
                    let recent = selected.recent.contains(uid);
                    flags_fetch(out, seq, uid, &flags, recent, condstore.then_some(modseq));
                }
            }
        }
    }
}
