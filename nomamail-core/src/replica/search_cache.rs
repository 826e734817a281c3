//! The search and sort fields of bodies, kept in memory once read. A summary is a function
//! of the body's bytes only, so a cached entry never goes stale: a SUBJECT search or a SORT
//! then walks the view and looks each body up here, instead of joining the mailbox's rows
//! with their summaries in SQLite every time.

use crate::ids::{BlobHash, MailboxId};
use crate::summary::SearchText;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Bodies kept at most (a few hundred bytes each); past it the cache starts again, which
/// costs one mailbox read, not a wrong answer.
const MAX_CACHED: usize = 250_000;

#[derive(Default)]
pub(super) struct SearchTextCache {
    by_blob: HashMap<BlobHash, Arc<SearchText>, foldhash::fast::RandomState>,
    /// Mailboxes whose every body was read in since the cache last started again: filling
    /// one again would find nothing new (later arrivals are looked up one by one).
    filled: HashSet<MailboxId>,
}

impl SearchTextCache {
    pub(super) fn get(&self, blob: &BlobHash) -> Option<&Arc<SearchText>> {
        self.by_blob.get(blob)
    }

    pub(super) fn contains(&self, blob: &BlobHash) -> bool {
        self.by_blob.contains_key(blob)
    }

    pub(super) fn is_filled(&self, mailbox: MailboxId) -> bool {
        self.filled.contains(&mailbox)
    }

    pub(super) fn mark_filled(&mut self, mailbox: MailboxId) {
        self.filled.insert(mailbox);
    }

    /// Keeps `text` and hands back the shared copy.
    pub(super) fn insert(&mut self, blob: BlobHash, text: SearchText) -> Arc<SearchText> {
        if self.by_blob.len() >= MAX_CACHED {
            self.by_blob.clear();
            self.filled.clear();
        }
        let text = Arc::new(text);
        self.by_blob.insert(blob, text.clone());
        text
    }
}
