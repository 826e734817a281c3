//! `import --user U PATH`: a Maildir (Maildir++ subfolders, `.Archive.2024`, and fs-layout
//! subfolders, `Archive/2024/cur` as Dovecot's `LAYOUT=fs` and mbsync's `SubFolders
//! Verbatim` write them, become mailboxes) or an mbox file
//! (into INBOX, or `--mailbox`) into an account, read with mail-parser's mailbox readers.
//! A message whose exact bytes are already in the target mailbox is skipped, so a second
//! run imports nothing and an interrupted run picks up where it stopped. Maildir flags and
//! mbox Status headers become IMAP flags; the file's time or the From_ line's date becomes
//! the internal date. While a daemon holds the store, the import runs inside it (through
//! the admin socket), so clients see messages arrive.

use anyhow::{Context, Result, bail};
use nomamail_core::accounts::Accounts;
use nomamail_core::{BlobHash, Durability, MailboxId, Replica};
use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::path::Path;

pub struct Item {
    pub mailbox: String,
    pub flags: Vec<String>,
    pub date: i64,
    pub bytes: Vec<u8>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    pub imported: u64,
    pub duplicates: u64,
    /// Folders of the source that were not imported (each reported as it was met).
    pub skipped: u64,
}

/// Bytes of the source, for the progress bar.
pub fn source_bytes(path: &Path) -> u64 {
    fn walk(path: &Path) -> u64 {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
                .map(|entries| entries.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            _ => 0,
        }
    }
    walk(path)
}

/// Calls `each` for every message of the Maildir or mbox at `path`, in order, and `skip`
/// for every directory under a Maildir that holds no Maildir (nothing is passed over
/// without a word).
pub fn read_source(
    path: &Path,
    mailbox: Option<&str>,
    mut each: impl FnMut(Item) -> Result<()>,
    mut skip: impl FnMut(String),
) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        // fs layout: folders are plain subdirectories (Maildir++ ones start with a dot). The
        // top may hold none of its own (mbsync keeps INBOX in a subdirectory too).
        let mut fs_layout = Vec::new();
        fs_folders(path, &mut Vec::new(), &mut fs_layout, &mut skip)?;
        let top_is_maildir = path.join("cur").is_dir() && path.join("new").is_dir();
        if !top_is_maildir && fs_layout.is_empty() {
            bail!(
                "{} is a directory but not a Maildir (no cur/ and new/ in it or below it)",
                path.display()
            );
        }
        let folders = if top_is_maildir {
            Some(
                mail_parser::mailbox::maildir::FolderIterator::new(path, Some("."))
                    .with_context(|| format!("reading the Maildir {}", path.display()))?,
            )
        } else {
            None
        };
        for folder in folders.into_iter().flatten() {
            let folder = folder.context("reading a Maildir folder")?;
            let name = match (mailbox, folder.name()) {
                (Some(target), None) => target.to_string(),
                (Some(target), Some(sub)) => format!("{target}/{}", sub.replace('.', "/")),
                (None, None) => "INBOX".to_string(),
                (None, Some(sub)) => sub.replace('.', "/"),
            };
            read_maildir_folder(folder, &name, &mut each)?;
        }
        for (relative, dir) in fs_layout {
            let name = match mailbox {
                Some(target) => format!("{target}/{relative}"),
                None => relative,
            };
            let folder = mail_parser::mailbox::maildir::MessageIterator::new(&dir)
                .with_context(|| format!("reading the Maildir folder {}", dir.display()))?;
            read_maildir_folder(folder, &name, &mut each)?;
        }
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let target = mailbox.unwrap_or("INBOX").to_string();
        for message in mail_parser::mailbox::mbox::MessageIterator::new(BufReader::new(file)) {
            let message = message.context("reading the mbox")?;
            let date = message.internal_date() as i64;
            let bytes = crlf(&message.unwrap_contents());
            each(Item {
                mailbox: target.clone(),
                flags: mbox_flags(&bytes),
                date,
                bytes,
            })?;
        }
    }
    Ok(())
}

/// Subdirectories of a Maildir that are Maildirs themselves (`cur` and `new` in them), as
/// (mailbox name, directory), parents before children; `skip` hears of the others.
fn fs_folders(
    dir: &Path,
    names: &mut Vec<String>,
    found: &mut Vec<(String, std::path::PathBuf)>,
    skip: &mut impl FnMut(String),
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ["cur", "new", "tmp"].contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        names.push(name);
        let before = found.len();
        if path.join("cur").is_dir() && path.join("new").is_dir() {
            found.push((names.join("/"), path.clone()));
        }
        fs_folders(&path, names, found, skip)?;
        if found.len() == before {
            skip(format!(
                "{} holds no Maildir (no cur/ and new/ in it or below it)",
                path.display()
            ));
        }
        names.pop();
    }
    Ok(())
}

fn read_maildir_folder(
    folder: mail_parser::mailbox::maildir::MessageIterator,
    name: &str,
    each: &mut impl FnMut(Item) -> Result<()>,
) -> Result<()> {
    for message in folder {
        let message = message.context("reading a Maildir message")?;
        let flags = message
            .flags()
            .iter()
            .filter_map(|flag| {
                use mail_parser::mailbox::maildir::Flag;
                Some(match flag {
                    Flag::Seen => "\\Seen",
                    Flag::Replied => "\\Answered",
                    Flag::Flagged => "\\Flagged",
                    Flag::Draft => "\\Draft",
                    Flag::Trashed => "\\Deleted",
                    Flag::Passed => return None,
                })
            })
            .map(str::to_string)
            .collect();
        each(Item {
            mailbox: name.to_string(),
            flags,
            date: message.internal_date() as i64,
            bytes: crlf(&message.unwrap_contents()),
        })?;
    }
    Ok(())
}

/// mbox keeps flags in `Status:` (R read) and `X-Status:` (A answered, F flagged, D deleted).
fn mbox_flags(message: &[u8]) -> Vec<String> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let mut flags = Vec::new();
    for line in String::from_utf8_lossy(&message[..end]).lines() {
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("status:") {
            if value.contains('r') {
                flags.push("\\Seen".to_string());
            }
        } else if let Some(value) = lower.strip_prefix("x-status:") {
            for (letter, flag) in [('a', "\\Answered"), ('f', "\\Flagged"), ('d', "\\Deleted")] {
                if value.contains(letter) {
                    flags.push(flag.to_string());
                }
            }
        }
    }
    flags.sort();
    flags.dedup();
    flags
}

/// Files and pipes have bare LF line ends; stores and IMAP want CRLF.
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    let mut previous = 0u8;
    for &byte in message {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

/// Appends items to one replica, skipping messages already in their mailbox.
#[derive(Default)]
pub struct Importer {
    known: HashMap<MailboxId, HashSet<BlobHash>>,
    pub tally: Tally,
}

impl Importer {
    pub fn import(&mut self, replica: &mut Replica, item: &Item) -> Result<()> {
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
        replica.append(mailbox, &item.bytes, &item.flags, item.date, 0)?;
        known.insert(hash);
        self.tally.imported += 1;
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
            let mut skipped = 0;
            read_source(
                path,
                mailbox,
                |item| {
                    bar.inc(item.bytes.len() as u64);
                    importer.import(&mut replica, &item)?;
                    bar.set_message(format!(
                        "{} imported, {} already there",
                        importer.tally.imported, importer.tally.duplicates
                    ));
                    Ok(())
                },
                |note| {
                    skipped += 1;
                    bar.suspend(|| eprintln!("skipped: {note}"));
                },
            )?;
            Tally {
                skipped,
                ..importer.tally
            }
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
            match numbers[..] {
                [imported, duplicates, skipped] => Tally {
                    imported,
                    duplicates,
                    skipped,
                },
                [imported, duplicates] => Tally {
                    imported,
                    duplicates,
                    skipped: 0,
                },
                _ => Tally::default(),
            }
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
    Ok(())
}
