//! What Dovecot keeps beside a Maildir folder: `dovecot-uidlist` (the folder's UIDVALIDITY,
//! its next UID and each message's UID, by file name) and `dovecot-keywords` (which keyword
//! each lowercase letter of a file name's flags stands for).

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::Path;

/// A folder's `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidList {
    pub uidvalidity: u32,
    pub next_uid: u32,
    /// By the file name's unique part (before `:2,`), which flag changes leave alone.
    uids: HashMap<String, u32>,
}

impl UidList {
    /// The folder's list, or `None` when it has none.
    pub fn read(folder: &Path) -> Result<Option<UidList>> {
        let path = folder.join("dovecot-uidlist");
        match std::fs::read_to_string(&path) {
            Ok(text) => UidList::parse(&text)
                .with_context(|| format!("reading {}", path.display()))
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Version 1 (Courier's: `1 <uidvalidity> <next uid>`, then `<uid> <file>`) and versions
    /// 2 and 3 (`3 V<uidvalidity> N<next uid> G<guid> …`, then `<uid> [<ext> …] :<file>`).
    pub fn parse(text: &str) -> Result<UidList> {
        let mut lines = text.lines();
        let header = lines.next().context("the file is empty")?;
        let fields: Vec<&str> = header.split_ascii_whitespace().collect();
        let number = |s: &str, what: &str| -> Result<u32> {
            s.parse::<u32>()
                .with_context(|| format!("{what} {s:?} is not a number"))
        };
        let (version, uidvalidity, next_uid) = match fields.as_slice() {
            ["1", uidvalidity, next_uid, ..] => (
                1,
                number(uidvalidity, "UIDVALIDITY")?,
                number(next_uid, "next UID")?,
            ),
            [version @ ("2" | "3"), rest @ ..] => {
                let find = |key: char, what: &str| -> Result<u32> {
                    let value = rest
                        .iter()
                        .find_map(|f| f.strip_prefix(key))
                        .with_context(|| format!("the header has no {what}"))?;
                    number(value, what)
                };
                (
                    if *version == "2" { 2 } else { 3 },
                    find('V', "UIDVALIDITY")?,
                    find('N', "next UID")?,
                )
            }
            _ => bail!("unknown header {header:?}"),
        };
        if uidvalidity == 0 {
            bail!("UIDVALIDITY 0 is not valid");
        }
        let mut uids = HashMap::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let (uid, rest) = line
                .split_once(' ')
                .with_context(|| format!("line {line:?} has no file name"))?;
            let uid = number(uid, "UID")?;
            let file = if version == 1 {
                rest.trim()
            } else {
                rest.split_once(':')
                    .map(|(_, file)| file)
                    .with_context(|| format!("line {line:?} has no file name"))?
            };
            if uid == 0 {
                bail!("UID 0 is not valid");
            }
            uids.insert(unique_part(file).to_string(), uid);
        }
        // Dovecot appends records for new mail without rewriting the header, so the next
        // UID it wrote there may be behind its last record.
        let after_last = uids.values().max().map_or(1, |&uid| uid.saturating_add(1));
        Ok(UidList {
            uidvalidity,
            next_uid: next_uid.max(after_last),
            uids,
        })
    }

    pub fn uid_of(&self, file_name: &str) -> Option<u32> {
        self.uids.get(unique_part(file_name)).copied()
    }
}

/// A Maildir file name without its flags (`1700000000.M1P2.host,S=120:2,S` → `1700000000.M1P2.host,S=120`).
pub fn unique_part(file_name: &str) -> &str {
    file_name
        .split_once(':')
        .map_or(file_name, |(unique, _)| unique)
}

/// A folder's `dovecot-keywords`: `a` is keyword 0, `b` keyword 1, … up to `z`.
#[derive(Debug, Default)]
pub struct Keywords(HashMap<u8, String>);

impl Keywords {
    /// Lines the file holds that are not `<number> <keyword>` are passed over: they name no
    /// letter, so no message can carry them.
    pub fn read(folder: &Path) -> Result<Keywords> {
        let path = folder.join("dovecot-keywords");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keywords::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Keywords::parse(&text))
    }

    pub fn parse(text: &str) -> Keywords {
        let letters = text.lines().filter_map(|line| {
            let (index, keyword) = line.trim().split_once(' ')?;
            let index: u8 = index.parse().ok().filter(|i| *i < 26)?;
            let keyword = keyword.trim();
            (!keyword.starts_with('\\') && nomamail_core::flags::is_valid_flag(keyword))
                .then(|| (b'a' + index, keyword.to_string()))
        });
        Keywords(letters.collect())
    }

    pub fn of_letter(&self, letter: u8) -> Option<&str> {
        self.0.get(&letter).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_3_lists_give_uidvalidity_next_uid_and_uids_by_unique_name() {
        let list = UidList::parse(
            "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n\
             25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n\
             25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n",
        )
        .unwrap();
        assert_eq!((list.uidvalidity, list.next_uid), (1275660208, 25022));
        assert_eq!(
            list.uid_of("1276528487.M364837P9451.kurkku,S=1355,W=1394:2,RS"),
            Some(25006)
        );
        assert_eq!(list.uid_of("1276533073.M242911P3632.kurkku"), Some(25017));
        assert_eq!(list.uid_of("1276533073.M0P1.other:2,S"), None);
    }

    #[test]
    fn records_appended_after_the_header_was_written_move_the_next_uid_on() {
        let list = UidList::parse("3 V7 N3 G00\n1 :a.host\n2 :b.host\n3 :c.host\n").unwrap();
        assert_eq!(list.next_uid, 4);
    }

    #[test]
    fn version_1_lists_are_read_as_courier_writes_them() {
        let list = UidList::parse("1 1100000000 4\n1 1099.M1.host:2,S\n3 1099.M2.host\n").unwrap();
        assert_eq!((list.uidvalidity, list.next_uid), (1100000000, 4));
        assert_eq!(list.uid_of("1099.M1.host:2,"), Some(1));
        assert_eq!(list.uid_of("1099.M2.host:2,T"), Some(3));
    }

    #[test]
    fn a_list_that_makes_no_sense_is_an_error_not_a_guess() {
        for text in [
            "",
            "9 V1 N2\n",
            "3 N25\n",
            "3 V0 N2\n",
            "3 V12 N5\n0 :zero\n",
            "3 V12 N5\nx :not.a.number\n",
            "3 V12 N5\n2 no-colon\n",
        ] {
            assert!(UidList::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn keywords_map_letters_in_order_and_skip_what_is_not_a_keyword() {
        let keywords = Keywords::parse("0 $Forwarded\n1 Work\n2 \\Seen\nnot a line\n30 Far\n");
        assert_eq!(keywords.of_letter(b'a'), Some("$Forwarded"));
        assert_eq!(keywords.of_letter(b'b'), Some("Work"));
        assert_eq!(keywords.of_letter(b'c'), None);
        assert_eq!(keywords.of_letter(b'z'), None);
    }
}
