//! Reading a source mail store: a Maildir (Maildir++ subfolders, `.Archive.2024`, and
//! fs-layout subfolders, `Archive/2024/cur` as Dovecot's `LAYOUT=fs` and mbsync's
//! `SubFolders Verbatim` write them) or an mbox file, as a stream of events in the order
//! they are to be stored. Where Dovecot left a `dovecot-uidlist`, a folder's messages come
//! in UID order with their UIDs, so the store can keep them.

use super::dovecot::{Keywords, UidList};
use anyhow::{Context, Result, bail};
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub enum Event {
    /// A folder begins: its messages follow, then `FolderDone`. Empty folders come too.
    Folder(Folder),
    Message(Item),
    FolderDone(Folder),
    /// A directory of the source that is not imported, and why: nothing is passed over
    /// without a word.
    Skipped(String),
}

#[derive(Clone, Debug)]
pub struct Folder {
    pub mailbox: String,
    /// The UIDVALIDITY and next UID of the store the folder comes from, where it says.
    pub kept: Option<KeptUids>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptUids {
    pub uidvalidity: u32,
    pub next_uid: u32,
}

pub struct Item {
    pub mailbox: String,
    pub flags: Vec<String>,
    pub date: i64,
    pub bytes: Vec<u8>,
    /// The message's UID in the store it comes from.
    pub uid: Option<u32>,
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

/// Calls `each` for every folder and message of the Maildir or mbox at `path`, in order.
/// `mailbox` puts everything under that mailbox instead of at the top.
pub fn read_source(
    path: &Path,
    mailbox: Option<&str>,
    mut each: impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        return read_mbox(path, mailbox.unwrap_or("INBOX"), &mut each);
    }
    let mut folders = Vec::new();
    let top_is_maildir = is_maildir(path);
    if top_is_maildir {
        folders.push((None, path.to_path_buf()));
        maildir_plus_plus_folders(path, &mut folders, &mut each)?;
    }
    // fs layout: folders are plain subdirectories. The top may hold none of its own (mbsync
    // keeps INBOX in a subdirectory too).
    let before = folders.len();
    fs_folders(path, &mut Vec::new(), &mut folders, &mut each)?;
    if !top_is_maildir && folders.len() == before {
        bail!(
            "{} is a directory but not a Maildir (no cur/ and new/ in it or below it)",
            path.display()
        );
    }
    for (relative, dir) in folders {
        let name = match (mailbox, relative) {
            (Some(target), None) => target.to_string(),
            (Some(target), Some(sub)) => format!("{target}/{sub}"),
            (None, None) => "INBOX".to_string(),
            (None, Some(sub)) => sub,
        };
        read_maildir_folder(&dir, name, &mut each)?;
    }
    Ok(())
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// A folder name as it is on disk: Dovecot writes modified UTF-7 there unless told to write
/// UTF-8, so a name that decodes is taken decoded.
fn folder_name(on_disk: &str) -> String {
    nomamail_core::imap::mutf7::decode(on_disk).unwrap_or_else(|_| on_disk.to_string())
}

/// The directories in `dir`, by name.
fn subdirectories(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    found.sort();
    Ok(found)
}

/// Maildir++ folders: `.Archive.2024` beside the top's `cur/` is `Archive/2024`.
fn maildir_plus_plus_folders(
    top: &Path,
    found: &mut Vec<(Option<String>, PathBuf)>,
    each: &mut impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    let entries = subdirectories(top)?.into_iter().filter_map(|(name, dir)| {
        let sub = name.strip_prefix('.')?.to_string();
        (!sub.is_empty() && sub != ".").then_some((sub, dir))
    });
    for (sub, dir) in entries {
        if is_maildir(&dir) {
            let name = sub.split('.').map(folder_name).collect::<Vec<_>>();
            found.push((Some(name.join("/")), dir));
        } else {
            each(Event::Skipped(format!(
                "{} is no Maildir folder (no cur/ and new/ in it)",
                dir.display()
            )))?;
        }
    }
    Ok(())
}

/// Subdirectories that are Maildirs themselves (`cur` and `new` in them), as (mailbox
/// name, directory), parents before children; the others are reported skipped.
fn fs_folders(
    dir: &Path,
    names: &mut Vec<String>,
    found: &mut Vec<(Option<String>, PathBuf)>,
    each: &mut impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    for (name, path) in subdirectories(dir)? {
        if ["cur", "new", "tmp"].contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        names.push(folder_name(&name));
        let before = found.len();
        if is_maildir(&path) {
            found.push((Some(names.join("/")), path.clone()));
        }
        fs_folders(&path, names, found, each)?;
        if found.len() == before {
            each(Event::Skipped(format!(
                "{} holds no Maildir (no cur/ and new/ in it or below it)",
                path.display()
            )))?;
        }
        names.pop();
    }
    Ok(())
}

/// One Maildir folder: with Dovecot's UID list, listed messages in UID order under their
/// UIDs, then any the list does not know yet; without it, in file-name order (the names
/// start with the delivery time).
fn read_maildir_folder(
    dir: &Path,
    mailbox: String,
    each: &mut impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    let uids = UidList::read(dir)?;
    let keywords = Keywords::read(dir)?;
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let sub_dir = dir.join(sub);
        for entry in
            std::fs::read_dir(&sub_dir).with_context(|| format!("reading {}", sub_dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", sub_dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            let uid = uids.as_ref().and_then(|list| list.uid_of(&name));
            files.push((uid.is_none(), uid, name, entry.path()));
        }
    }
    files.sort();
    let folder = Folder {
        mailbox,
        kept: uids.as_ref().map(|list| KeptUids {
            uidvalidity: list.uidvalidity,
            next_uid: list.next_uid,
        }),
    };
    each(Event::Folder(folder.clone()))?;
    for (_, uid, name, path) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let date = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        each(Event::Message(Item {
            mailbox: folder.mailbox.clone(),
            flags: maildir_flags(&name, &keywords),
            date,
            bytes: crlf(&bytes),
            uid,
        }))?;
    }
    each(Event::FolderDone(folder))
}

/// The flags of a Maildir file name (`…:2,FRS`): capitals are system flags, Dovecot's
/// lowercase letters keywords. `P` (passed on) has no IMAP flag.
fn maildir_flags(file_name: &str, keywords: &Keywords) -> Vec<String> {
    let Some((_, letters)) = file_name.rsplit_once(":2,") else {
        return Vec::new();
    };
    let mut flags: Vec<String> = letters
        .bytes()
        .filter_map(|letter| match letter {
            b'S' => Some("\\Seen"),
            b'R' => Some("\\Answered"),
            b'F' => Some("\\Flagged"),
            b'D' => Some("\\Draft"),
            b'T' => Some("\\Deleted"),
            b'a'..=b'z' => keywords.of_letter(letter),
            _ => None,
        })
        .map(str::to_string)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn read_mbox(path: &Path, mailbox: &str, each: &mut impl FnMut(Event) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let folder = Folder {
        mailbox: mailbox.to_string(),
        kept: None,
    };
    each(Event::Folder(folder.clone()))?;
    for message in mail_parser::mailbox::mbox::MessageIterator::new(BufReader::new(file)) {
        let message = message.context("reading the mbox")?;
        let date = message.internal_date() as i64;
        let bytes = crlf(&message.unwrap_contents());
        each(Event::Message(Item {
            mailbox: mailbox.to_string(),
            flags: mbox_flags(&bytes),
            date,
            bytes,
            uid: None,
        }))?;
    }
    each(Event::FolderDone(folder))
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
