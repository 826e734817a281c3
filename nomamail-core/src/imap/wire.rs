//! Conversions between the engine's values and imap-types' wire values: mailbox names in
//! modified UTF-7, flags, and dates.

use super::mutf7;
use bounded_static::IntoBoundedStatic;
use chrono::{FixedOffset, TimeZone};
use imap_types::core::AString;
use imap_types::datetime::DateTime;
use imap_types::flag::{Flag, FlagFetch};
use imap_types::mailbox::Mailbox;

/// The mailbox name a client sent, decoded from modified UTF-7. `None` if it is not valid
/// modified UTF-7 or not UTF-8 at all.
pub fn mailbox_name(mailbox: &Mailbox<'_>) -> Option<String> {
    match mailbox {
        Mailbox::Inbox => Some("INBOX".to_string()),
        Mailbox::Other(other) => {
            let raw = std::str::from_utf8(other.inner().as_ref()).ok()?;
            mutf7::decode(raw).ok()
        }
    }
}

/// A raw name (LIST reference or pattern) decoded from modified UTF-7.
pub fn decode_name(raw: &[u8]) -> Option<String> {
    mutf7::decode(std::str::from_utf8(raw).ok()?).ok()
}

pub fn mailbox(name: &str) -> Mailbox<'static> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Mailbox::Inbox;
    }
    let encoded = mutf7::encode(name);
    match AString::try_from(encoded) {
        Ok(astring) => Mailbox::from(astring).into_static(),
        // Modified UTF-7 output is 7-bit printable, so every encoded name is a valid string.
        Err(_) => Mailbox::Inbox,
    }
}

/// The engine's spelling of a flag (`\Seen`, `$Forwarded`); `None` for `\Recent`, `\*` and
/// unknown system flags, which cannot be stored.
pub fn flag_name(flag: &Flag<'_>) -> Option<String> {
    match flag {
        Flag::Extension(_) => None,
        other => Some(crate::flags::canonical(&other.to_string())),
    }
}

pub fn flag(name: &str) -> Option<Flag<'static>> {
    Flag::try_from(name)
        .ok()
        .map(IntoBoundedStatic::into_static)
}

pub fn fetch_flags(names: &[String], recent: bool) -> Vec<FlagFetch<'static>> {
    let mut flags: Vec<FlagFetch<'static>> = names
        .iter()
        .filter_map(|n| flag(n))
        .map(FlagFetch::Flag)
        .collect();
    if recent {
        flags.push(FlagFetch::Recent);
    }
    flags
}

/// An internal date as seconds since the epoch and the zone it was given in.
pub fn date_time(seconds: i64, offset_minutes: i16) -> Option<DateTime> {
    let zone = FixedOffset::east_opt(i32::from(offset_minutes) * 60)?;
    let at = zone.timestamp_opt(seconds, 0).single()?;
    DateTime::try_from(at).ok()
}

/// A wire date as (seconds since the epoch, offset in minutes).
pub fn from_date_time(date: &DateTime) -> (i64, i16) {
    let inner = date.as_ref();
    let offset = inner.offset().local_minus_utc() / 60;
    (inner.timestamp(), offset as i16)
}
