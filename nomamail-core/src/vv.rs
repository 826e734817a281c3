//! Version vectors: which writes of which replicas a state has seen.
//!
//! A vector maps each replica to the highest counter of its writes seen. The zero vector
//! (empty map) is a valid "seen nothing". Comparison answers the four questions sync asks:
//! equal, newer (dominates), older (dominated), or concurrent.

use crate::ids::{Dot, ReplicaId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// `self` has seen everything `other` has, and more.
    Newer,
    /// `other` has seen everything `self` has, and more.
    Older,
    Concurrent,
}

#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionVector(BTreeMap<ReplicaId, u64>);

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.0.get(&replica).copied().unwrap_or(0)
    }

    /// Whether the write `dot` is part of what this vector has seen.
    pub fn contains(&self, dot: Dot) -> bool {
        dot.counter <= self.get(dot.replica)
    }

    /// Record that the write `dot` has been seen.
    pub fn add(&mut self, dot: Dot) {
        let slot = self.0.entry(dot.replica).or_insert(0);
        *slot = (*slot).max(dot.counter);
    }

    /// Least upper bound: everything either side has seen.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&replica, &counter) in &other.0 {
            self.add(Dot::new(replica, counter));
        }
    }

    pub fn merged(&self, other: &VersionVector) -> VersionVector {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// `self` has seen everything `other` has.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(&r, &c)| self.get(r) >= c)
    }

    pub fn compare(&self, other: &VersionVector) -> Causality {
        match (self.dominates(other), other.dominates(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::Newer,
            (false, true) => Causality::Older,
            (false, false) => Causality::Concurrent,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.0.iter().map(|(&r, &c)| (r, c))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl FromIterator<Dot> for VersionVector {
    fn from_iter<I: IntoIterator<Item = Dot>>(iter: I) -> Self {
        let mut vv = VersionVector::new();
        for dot in iter {
            vv.add(dot);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vv(pairs: &[(u64, u64)]) -> VersionVector {
        pairs
            .iter()
            .map(|&(r, c)| Dot::new(ReplicaId(r), c))
            .collect()
    }

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u64..4, 0u64..6), 0..6).prop_map(|p| vv(&p))
    }

    #[test]
    fn compare_known_answers() {
        let check = |a: &[(u64, u64)], b: &[(u64, u64)], want: Causality| {
            assert_eq!(vv(a).compare(&vv(b)), want, "{a:?} vs {b:?}");
        };
        check(&[], &[], Causality::Equal);
        check(&[(1, 2)], &[(1, 2)], Causality::Equal);
        check(&[(1, 3)], &[(1, 2)], Causality::Newer);
        check(&[(1, 2)], &[(1, 2), (2, 1)], Causality::Older);
        check(&[(1, 3)], &[(2, 1)], Causality::Concurrent);
        check(&[(1, 0)], &[], Causality::Equal);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn merge_is_commutative(a in arb_vv(), b in arb_vv()) {
            prop_assert_eq!(a.merged(&b).compare(&b.merged(&a)), Causality::Equal);
        }

        #[test]
        fn merge_is_associative(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let left = a.merged(&b).merged(&c);
            let right = a.merged(&b.merged(&c));
            prop_assert_eq!(left.compare(&right), Causality::Equal);
        }

        #[test]
        fn merge_is_idempotent(a in arb_vv()) {
            prop_assert_eq!(a.merged(&a).compare(&a), Causality::Equal);
        }

        #[test]
        fn compare_agrees_with_merge(a in arb_vv(), b in arb_vv()) {
            let m = a.merged(&b);
            let by_merge = match (m.compare(&a) == Causality::Equal, m.compare(&b) == Causality::Equal) {
                (true, true) => Causality::Equal,
                (true, false) => Causality::Newer,
                (false, true) => Causality::Older,
                (false, false) => Causality::Concurrent,
            };
            prop_assert_eq!(a.compare(&b), by_merge);
            prop_assert!(m.dominates(&a) && m.dominates(&b));
        }
    }
}
