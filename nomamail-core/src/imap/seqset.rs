//! Turning a client's sequence set (`1:4,7,9:*`) into the messages of the selected view.

use super::view::SelectedView;
use imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    /// A message sequence number beyond what the client has been told exists.
    OutOfRange(u32),
}

/// The sequence numbers (ascending, no repeats) that `set` names in `view`. Message numbers
/// must exist; UIDs that name no message are simply skipped, as RFC 3501 asks.
pub fn resolve(set: &SequenceSet, view: &SelectedView, by_uid: bool) -> Result<Vec<u32>, SetError> {
    let messages = view.messages();
    let largest = if by_uid {
        messages.last().map_or(0, |m| m.uid)
    } else {
        view.len()
    };
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    };
    // Ranges of sequence numbers, found by binary search: the cost follows the set and the
    // answer, not the size of the mailbox.
    let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(set.0.as_ref().len());
    for sequence in set.0.as_ref() {
        let (low, high) = match sequence {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        };
        if by_uid {
            let start = messages.partition_point(|m| m.uid < low);
            let end = messages.partition_point(|m| m.uid <= high);
            if start < end {
                ranges.push((start as u32 + 1, end as u32));
            }
        } else {
            if low == 0 || high > view.len() {
                return Err(SetError::OutOfRange(high.max(low)));
            }
            ranges.push((low, high));
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (low, high) in ranges {
        match merged.last_mut() {
            Some((_, end)) if low <= end.saturating_add(1) => *end = (*end).max(high),
            _ => merged.push((low, high)),
        }
    }
    Ok(merged
        .into_iter()
        .flat_map(|(low, high)| low..=high)
        .collect())
}

/// Ascending numbers as a sequence set with ranges: `1:3,7,9:10`.
pub fn compact(numbers: &[u32]) -> String {
    use std::fmt::Write;
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::view::Known;
    use imap_codec::imap_types::sequence::SequenceSet;

    fn view(uids: &[u32]) -> SelectedView {
        SelectedView::new(
            uids.iter()
                .map(|&uid| Known {
                    id: crate::ids::ItemId(crate::ids::Dot::new(
                        crate::ids::ReplicaId(7),
                        u64::from(uid),
                    )),
                    uid,
                    flags: Vec::new(),
                    modseq: 1,
                    blob: crate::ids::BlobHash([0; 32]),
                    size: 0,
                    internal_date: 0,
                    date_offset_minutes: 0,
                })
                .collect(),
        )
    }

    fn set(text: &str) -> SequenceSet {
        SequenceSet::try_from(text).expect("valid sequence set")
    }

    #[test]
    fn message_numbers_and_asterisk() {
        let v = view(&[3, 5, 8, 13]);
        assert_eq!(resolve(&set("1:2,4"), &v, false), Ok(vec![1, 2, 4]));
        assert_eq!(resolve(&set("*"), &v, false), Ok(vec![4]));
        assert_eq!(resolve(&set("3:*"), &v, false), Ok(vec![3, 4]));
        assert_eq!(resolve(&set("5"), &v, false), Err(SetError::OutOfRange(5)));
    }

    #[test]
    fn uids_skip_gaps_and_a_range_past_the_end_still_names_the_last() {
        let v = view(&[3, 5, 8, 13]);
        assert_eq!(resolve(&set("4:8"), &v, true), Ok(vec![2, 3]));
        assert_eq!(resolve(&set("100:*"), &v, true), Ok(vec![4]));
        assert_eq!(resolve(&set("1:*"), &v, true), Ok(vec![1, 2, 3, 4]));
        assert_eq!(resolve(&set("6,7"), &v, true), Ok(vec![]));
        assert_eq!(resolve(&set("1:*"), &view(&[]), true), Ok(vec![]));
    }
}
