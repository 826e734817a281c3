//! The memory all sessions of a listener may hold in messages being received. Each message
//! is bounded on its own (`max_message_bytes`), but two hundred connections each trickling
//! in a 64 MiB message would still hold 12 GiB; past the shared budget a message is read to
//! its end and refused with a temporary failure, so its sender tries again later.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct BufferBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BufferBudget {
    pub fn new(limit: usize) -> Arc<BufferBudget> {
        Arc::new(BufferBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by messages being received now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One message's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BufferBudget>,
    held: usize,
}

impl Reservation {
    pub fn new(budget: &Arc<BufferBudget>) -> Reservation {
        Reservation {
            budget: budget.clone(),
            held: 0,
        }
    }

    /// Grows the share to `total` bytes; `false` (and nothing taken) if the budget has not
    /// that much left.
    pub fn grow_to(&mut self, total: usize) -> bool {
        let Some(more) = total.checked_sub(self.held).filter(|more| *more > 0) else {
            return true;
        };
        let taken = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more)
                    .filter(|after| *after <= self.budget.limit)
            });
        if taken.is_ok() {
            self.held = total;
        }
        taken.is_ok()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_bounded_together_and_given_back() {
        let budget = BufferBudget::new(100);
        let mut first = Reservation::new(&budget);
        let mut second = Reservation::new(&budget);
        assert!(first.grow_to(60));
        assert!(!second.grow_to(50), "60 + 50 is over the budget");
        assert!(second.grow_to(40));
        assert_eq!(budget.in_use(), 100);
        assert!(
            first.grow_to(10),
            "shrinking is not asked for, and costs nothing"
        );
        drop(first);
        assert_eq!(budget.in_use(), 40);
        assert!(second.grow_to(100));
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }
}
