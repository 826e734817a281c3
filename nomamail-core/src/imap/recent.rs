//! The messages a session holds as `\Recent` (RFC 3501 §2.3.2): the UID ranges it claimed
//! from the replica's recent horizon at SELECT and as new mail arrived. Exactly one session
//! sees a message as recent; EXAMINE sessions see what is not yet claimed, claiming nothing.

use super::view::SelectedView;

#[derive(Clone, Debug, Default)]
pub struct Recent {
    /// Disjoint, ascending, inclusive.
    ranges: Vec<(u32, u32)>,
}

impl Recent {
    pub fn add(&mut self, low: u32, high: u32) {
        if low > high {
            return;
        }
        self.ranges.push((low, high));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(low, high) in &self.ranges {
            match merged.last_mut() {
                Some((_, end)) if low <= end.saturating_add(1) => *end = (*end).max(high),
                _ => merged.push((low, high)),
            }
        }
        self.ranges = merged;
    }

    pub fn contains(&self, uid: u32) -> bool {
        let at = self.ranges.partition_point(|&(_, high)| high < uid);
        self.ranges.get(at).is_some_and(|&(low, _)| low <= uid)
    }

    /// How many messages of the view are recent (for `* n RECENT`).
    pub fn count(&self, view: &SelectedView) -> u32 {
        let messages = view.messages();
        self.ranges
            .iter()
            .map(|&(low, high)| {
                let start = messages.partition_point(|m| m.uid < low);
                let end = messages.partition_point(|m| m.uid <= high);
                (end - start) as u32
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_answer_membership() {
        let mut recent = Recent::default();
        recent.add(5, 7);
        recent.add(1, 2);
        recent.add(3, 4);
        recent.add(10, 9);
        assert_eq!(recent.ranges, vec![(1, 7)]);
        recent.add(20, 20);
        assert!(recent.contains(1) && recent.contains(7) && recent.contains(20));
        assert!(!recent.contains(8) && !recent.contains(21) && !recent.contains(0));
    }
}
