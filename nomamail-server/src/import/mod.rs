//! `import --user U PATH`: a Maildir (with its Maildir++ or fs-layout subfolders) or an mbox
//! file (into INBOX, or `--mailbox`) into an account. A message whose exact bytes are already
//! in the target mailbox is skipped, so a second run imports nothing and an interrupted run
//! picks up where it stopped. Maildir flags (Dovecot's keywords too) and mbox Status headers
//! become IMAP flags; the file's time or the From_ line's date becomes the internal date.
//! Where Dovecot left its UID list, a mailbox that has never held mail here takes on the
//! folder's UIDVALIDITY and each message its UID, so clients moving over keep their caches.
//! While a daemon holds the store, the import runs inside it (through the admin socket), so
//! clients see messages arrive.

mod dovecot;
mod source;

pub use source::{Event, Folder, Item, crlf, read_source, source_bytes};

use anyhow::{Context, Result, bail};
use nomamail_core::accounts::Accounts;
use nomamail_core::{BlobHash, Durability, MailboxId, NewMessage, Replica};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    pub imported: u64,
    pub duplicates: u64,
    /// Folders of the source that were not imported (each reported as it was met).
    pub skipped: u64,
    /// Folders whose UIDs could not be kept: their mailbox here already held mail.
    pub renumbered: u64,
}

impl Tally {
    /// As the daemon answers an import request, and back.
    pub fn to_fields(self) -> String {
        format!(
            "\t{}\t{}\t{}\t{}",
            self.imported, self.duplicates, self.skipped, self.renumbered
        )
    }

    fn from_numbers(numbers: &[u64]) -> Tally {
        let at = |i: usize| numbers.get(i).copied().unwrap_or(0);
        Tally {
            imported: at(0),
            duplicates: at(1),
            skipped: at(2),
            renumbered: at(3),
        }
    }
}

/// Stores a source's events in one replica, skipping messages already in their mailbox.
#[derive(Default)]
pub struct Importer {
    known: HashMap<MailboxId, HashSet<BlobHash>>,
    /// Mailboxes showing their source folder's UIDVALIDITY, whose messages keep their UIDs.
    keeping_uids: HashSet<MailboxId>,
    pub tally: Tally,
}

impl Importer {
    pub fn take(&mut self, replica: &mut Replica, event: &Event) -> Result<()> {
        match event {
            Event::Folder(folder) => self.begin(replica, folder),
            Event::Message(item) => self.import(replica, item),
            Event::FolderDone(folder) => self.finish(replica, folder),
            Event::Skipped(_) => {
                self.tally.skipped += 1;
                Ok(())
            }
        }
    }

    fn begin(&mut self, replica: &mut Replica, folder: &Folder) -> Result<()> {
        let mailbox = ensure_mailbox(replica, &folder.mailbox)?;
        if let Some(kept) = folder.kept {
            if replica.import_uidvalidity(mailbox, kept.uidvalidity)? {
                self.keeping_uids.insert(mailbox);
            } else {
                self.tally.renumbered += 1;
            }
        }
        Ok(())
    }

    fn import(&mut self, replica: &mut Replica, item: &Item) -> Result<()> {
        let mailbox = ensure_mailbox(replica, &item.mailbox)?;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.known.entry(mailbox) {
            let hashes = replica.entries(mailbox)?.into_iter().map(|e| e.blob);
            slot.insert(hashes.collect());
        }
        let hash = BlobHash::of(&item.bytes);
        let known = self.known.entry(mailbox).or_default();
        if known.contains(&hash) {
            self.tally.duplicates += 1;
            return Ok(());
        }
        let message = NewMessage {
            bytes: &item.bytes,
            flags: &item.flags,
            internal_date: item.date,
            date_offset_minutes: 0,
        };
        match item.uid.filter(|_| self.keeping_uids.contains(&mailbox)) {
            Some(uid) => replica.append_keeping_uid(mailbox, message, uid)?,
            None => replica
                .append_all(mailbox, &[message])?
                .pop()
                .context("nothing stored")?,
        };
        known.insert(hash);
        self.tally.imported += 1;
        Ok(())
    }

    fn finish(&mut self, replica: &mut Replica, folder: &Folder) -> Result<()> {
        if let Some(kept) = folder.kept {
            let mailbox = ensure_mailbox(replica, &folder.mailbox)?;
            if self.keeping_uids.contains(&mailbox) {
                replica.raise_uidnext(mailbox, kept.next_uid)?;
            }
        }
        Ok(())
    }
}

fn ensure_mailbox(replica: &mut Replica, name: &str) -> Result<MailboxId> {
    if let Some(info) = replica.mailbox(name)? {
        return Ok(info.id);
    }
    // Parents first, as IMAP CREATE does.
    let parts: Vec<&str> = name.split('/').collect();
    let mut id = None;
    for depth in 1..=parts.len() {
        let path = parts[..depth].join("/");
        id = Some(match replica.mailbox(&path)? {
            Some(info) => info.id,
            None => replica.create_mailbox(&path)?,
        });
    }
    id.with_context(|| format!("empty mailbox name {name:?}"))
}

pub fn run(data_dir: &Path, user: &str, path: &Path, mailbox: Option<&str>) -> Result<()> {
    let accounts = Accounts::open(data_dir)?;
    if accounts.get(user)?.is_none() {
        bail!("no such user: {user}");
    }
    let total = source_bytes(path);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let tally = match accounts.open_replica(user, Durability::Full) {
        Ok(mut replica) => {
            let mut importer = Importer::default();
            read_source(path, mailbox, |event| {
                match &event {
                    Event::Message(item) => bar.inc(item.bytes.len() as u64),
                    Event::Skipped(note) => bar.suspend(|| eprintln!("skipped: {note}")),
                    Event::Folder(_) | Event::FolderDone(_) => {}
                }
                importer.take(&mut replica, &event)?;
                bar.set_message(format!(
                    "{} imported, {} already there",
                    importer.tally.imported, importer.tally.duplicates
                ));
                Ok(())
            })?;
            importer.tally
        }
        Err(e) if e.is_locked() => {
            let absolute = std::fs::canonicalize(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let absolute = absolute.to_string_lossy().into_owned();
            let mut fields = vec!["import", user, absolute.as_str()];
            if let Some(mailbox) = mailbox {
                fields.push(mailbox);
            }
            let numbers = crate::admin_client::request_with_progress(
                data_dir,
                &fields,
                |done, imported, duplicates| {
                    bar.set_position(done);
                    bar.set_message(format!("{imported} imported, {duplicates} already there"));
                },
            )?;
            Tally::from_numbers(&numbers)
        }
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    println!(
        "imported {} messages into {user}; {} were there already",
        tally.imported, tally.duplicates
    );
    if tally.skipped > 0 {
        println!(
            "{} folders skipped (named above, or in the daemon's log)",
            tally.skipped
        );
    }
    if tally.renumbered > 0 {
        println!(
            "{} folders could not keep their UIDs (their mailbox here already held mail): \
             clients download them again",
            tally.renumbered
        );
    }
    Ok(())
}
