//! One memory budget for the literals all connections are buffering at once. Each connection
//! may buffer a literal up to `max_literal`, but a thousand of them doing so together would
//! take gigabytes; a literal that does not fit the budget left is refused (`NO [LIMIT]`)
//! before the client sends it, and the client may try again once others are done.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct LiteralBudget {
    used: AtomicU64,
}

impl LiteralBudget {
    /// Takes `bytes` of the budget `limit`, or refuses without taking any.
    pub fn reserve(&self, bytes: u64, limit: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    pub fn release(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::LiteralBudget;

    #[test]
    fn reservations_past_the_limit_are_refused_and_released_bytes_come_back() {
        let budget = LiteralBudget::default();
        assert!(budget.reserve(600, 1000));
        assert!(!budget.reserve(500, 1000));
        assert!(budget.reserve(400, 1000));
        budget.release(600);
        assert!(budget.reserve(500, 1000));
        assert_eq!(budget.used(), 900);
    }
}
