//! Which sequence numbers of a peer's sync mail have been applied: the replay filter. Mail
//! arrives out of order, so this is a set of ranges, not a high-water mark. Gaps left by lost
//! mail would grow it for ever; past `MAX_RANGES` the oldest gap is closed, which only means
//! that mail, if it ever turns up, is refused as a replay (the engine resends its contents).

use serde::{Deserialize, Serialize};

const MAX_RANGES: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Disjoint, non-adjacent, ascending inclusive ranges.
    ranges: Vec<(u64, u64)>,
}

impl Seen {
    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .binary_search_by(|&(low, high)| {
                if high < seq {
                    std::cmp::Ordering::Less
                } else if low > seq {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub fn insert(&mut self, seq: u64) {
        let at = self.ranges.partition_point(|&(_, high)| high < seq);
        if at < self.ranges.len() && self.ranges[at].0 <= seq {
            return;
        }
        let joins_left = at > 0 && self.ranges[at - 1].1 + 1 == seq;
        let joins_right = at < self.ranges.len() && self.ranges[at].0 == seq + 1;
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = seq,
            (false, true) => self.ranges[at].0 = seq,
            (false, false) => self.ranges.insert(at, (seq, seq)),
        }
        if self.ranges.len() > MAX_RANGES {
            let second = self.ranges.remove(1);
            self.ranges[0] = (0, second.1);
        }
    }

    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_sequence_numbers_are_remembered_exactly() {
        let mut seen = Seen::default();
        for seq in [5, 1, 3, 2, 9, 4] {
            assert!(!seen.contains(seq));
            seen.insert(seq);
            assert!(seen.contains(seq));
        }
        assert_eq!(seen.ranges, vec![(1, 5), (9, 9)]);
        for seq in [0, 6, 7, 8, 10] {
            assert!(!seen.contains(seq), "{seq}");
        }
        seen.insert(7);
        seen.insert(8);
        seen.insert(6);
        assert_eq!(seen.ranges, vec![(1, 9)]);
    }

    #[test]
    fn endless_gaps_close_the_oldest_first() {
        let mut seen = Seen::default();
        for seq in (0..2_000u64).map(|n| n * 2 + 10) {
            seen.insert(seq);
        }
        assert!(seen.ranges() <= MAX_RANGES);
        assert!(seen.contains(3), "closed gaps count as seen");
        assert!(!seen.contains(3_999), "recent gaps stay open");
        assert!(seen.contains(4_008));
    }
}
