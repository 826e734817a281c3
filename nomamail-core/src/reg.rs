//! Multi-value register: the latest writes to one field that no other write has superseded.
//!
//! Each sibling carries the dot of its write. The register is merged against the *item's*
//! causal context (its version vector): a sibling the other side lacks survives only if the
//! other side never saw its dot, because having seen a dot without keeping it means having
//! overwritten it. One sibling means the field is settled; several are concurrent writes,
//! which the policy module settles deterministically and, where the table says so, reports.

use crate::ids::Dot;
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reg<T> {
    /// Sorted by dot, no dot twice. Empty only for a field never written.
    siblings: Vec<(Dot, T)>,
}

impl<T> Default for Reg<T> {
    fn default() -> Self {
        Reg {
            siblings: Vec::new(),
        }
    }
}

impl<T: Clone + PartialEq> Reg<T> {
    pub fn new(dot: Dot, value: T) -> Self {
        Reg {
            siblings: vec![(dot, value)],
        }
    }

    /// A local write: it has seen every sibling here, so it replaces them all.
    pub fn set(&mut self, dot: Dot, value: T) {
        self.siblings = vec![(dot, value)];
    }

    pub fn merge(&mut self, own_ctx: &VersionVector, other: &Reg<T>, other_ctx: &VersionVector) {
        let mut merged: Vec<(Dot, T)> = self
            .siblings
            .iter()
            .filter(|(dot, _)| other.has_dot(*dot) || !other_ctx.contains(*dot))
            .cloned()
            .collect();
        for (dot, value) in &other.siblings {
            if !own_ctx.contains(*dot) && !merged.iter().any(|(d, _)| d == dot) {
                merged.push((*dot, value.clone()));
            }
        }
        merged.sort_by_key(|(dot, _)| *dot);
        self.siblings = merged;
    }

    fn has_dot(&self, dot: Dot) -> bool {
        self.siblings.iter().any(|(d, _)| *d == dot)
    }

    pub fn siblings(&self) -> &[(Dot, T)] {
        &self.siblings
    }

    pub fn dots(&self) -> impl Iterator<Item = Dot> + '_ {
        self.siblings.iter().map(|(d, _)| *d)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.siblings.iter().map(|(_, v)| v)
    }

    /// The value of the latest dot: the deterministic pick every replica makes alike.
    pub fn latest(&self) -> Option<&T> {
        self.siblings.last().map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// Distinct values among the siblings, in dot order.
    pub fn distinct_values(&self) -> Vec<&T> {
        let mut out: Vec<&T> = Vec::new();
        for v in self.values() {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// Structural validity for state that arrived from outside: sorted, no duplicate dot,
    /// every dot inside the item's context.
    pub fn is_well_formed(&self, ctx: &VersionVector) -> bool {
        self.siblings.windows(2).all(|w| w[0].0 < w[1].0)
            && self.siblings.iter().all(|(d, _)| ctx.contains(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ReplicaId;

    fn dot(r: u64, c: u64) -> Dot {
        Dot::new(ReplicaId(r), c)
    }

    #[test]
    fn newer_write_replaces_older_and_concurrent_writes_both_stay() {
        let base = Reg::new(dot(1, 1), "a");
        let base_ctx: VersionVector = [dot(1, 1)].into_iter().collect();

        let mut newer = base.clone();
        newer.set(dot(2, 5), "b");
        let newer_ctx = base_ctx.merged(&[dot(2, 5)].into_iter().collect());

        let mut merged = base.clone();
        merged.merge(&base_ctx, &newer, &newer_ctx);
        assert_eq!(merged.distinct_values(), vec![&"b"]);

        let mut other = base.clone();
        other.set(dot(3, 4), "c");
        let other_ctx = base_ctx.merged(&[dot(3, 4)].into_iter().collect());
        let mut both = newer.clone();
        both.merge(&newer_ctx, &other, &other_ctx);
        assert_eq!(both.distinct_values(), vec![&"c", &"b"]);
        assert_eq!(both.latest(), Some(&"b"));
    }
}
