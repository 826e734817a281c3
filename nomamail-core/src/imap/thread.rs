//! RFC 5256 THREAD: the ORDEREDSUBJECT and REFERENCES algorithms, over plain data, and the
//! conversion of their trees into imap-types' `Thread` for the response.
//!
//! Everything here is iterative: a References header can name thousands of messages and a
//! mailbox can hold a chain as deep, and any message sender can make one, so no walk may cost
//! stack in proportion to a thread's depth. For the same reason `Node` drops itself without
//! recursing and derives no recursive traits.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::num::NonZeroU32;

use imap_types::core::{Vec1, Vec2};
use imap_types::extensions::thread::Thread;

use crate::summary::subject::{BaseSubject, base_subject};

/// What threading reads of one searched message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadMessage {
    /// The sequence number or UID the answer names the message by.
    pub number: u32,
    /// Without angle brackets, as mail-parser gives it.
    pub message_id: Option<String>,
    pub references: Vec<String>,
    pub in_reply_to: Vec<String>,
    /// Decoded from RFC 2047 words.
    pub subject: String,
    /// RFC 5256 §2.2 sent date, seconds since the epoch (UTC).
    pub sent: i64,
}

/// One thread node: a message, or a dummy (None) standing for a message not in the set.
pub struct Node {
    pub message: Option<u32>,
    pub children: Vec<Node>,
}

impl Drop for Node {
    // The derived drop would recurse once per generation, and a hostile References chain
    // makes thousands of them.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.children);
        }
    }
}

/// ORDEREDSUBJECT ("poor man's threading"): messages grouped by base subject; in each group,
/// sorted by sent date, the first is the parent of all the others, which have no children of
/// their own; groups in the order of their first message's sent date.
pub fn ordered_subject(messages: &[ThreadMessage]) -> Vec<Node> {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let key = fold_case(&base_subject(&message.subject).text);
        groups.entry(key).or_default().push(i);
    }
    let order = |&a: &usize, &b: &usize| sent_order(&messages[a], &messages[b]);
    let mut threads: Vec<Vec<usize>> = groups.into_values().collect();
    for thread in &mut threads {
        thread.sort_by(order);
    }
    threads.sort_by_key(|thread| {
        thread
            .first()
            .map(|&i| (messages[i].sent, messages[i].number))
    });
    threads
        .into_iter()
        .filter_map(|thread| {
            let (first, rest) = thread.split_first()?;
            Some(Node {
                message: Some(messages[*first].number),
                children: rest.iter().map(|&i| leaf(messages[i].number)).collect(),
            })
        })
        .collect()
}

/// REFERENCES: RFC 5256's six steps, in its order and with its tie-breaks.
pub fn references(messages: &[ThreadMessage]) -> Vec<Node> {
    let subjects: Vec<BaseSubject> = messages.iter().map(|m| base_subject(&m.subject)).collect();
    let keys: Vec<String> = subjects.iter().map(|s| fold_case(&s.text)).collect();
    let mut forest = Forest::new(messages, &subjects, &keys);
    forest.link_references();
    forest.gather_roots();
    forest.prune_dummies();
    forest.sort_roots();
    forest.group_roots_by_subject();
    forest.sort_siblings();
    forest.into_nodes()
}

/// The answer for a THREAD response. Dummies have no number to show: at the top a dummy with
/// several children becomes a parenthesised group (`((3)(5))`), elsewhere its children take
/// its place among its siblings, as REFERENCES step 3 would have done; a number of 0 (which
/// the protocol cannot carry) is treated as a dummy. Nesting is limited to `MAX_NESTING`
/// groups: below that, a message's descendants are all listed as its children, so every
/// message still appears while the answer (whose own traits recurse) stays shallow.
pub fn to_imap(nodes: &[Node]) -> Vec<Thread> {
    let tree = Numbered::of(nodes);
    let heads = tree.heads();
    let mut built: Vec<Option<Thread>> = Vec::new();
    built.resize_with(tree.nodes.len(), || None);
    for &head in heads.iter().rev() {
        built[head] = tree.thread_at(head, &mut built);
    }
    tree.tops
        .iter()
        .filter_map(|group| {
            let mut threads: Vec<Thread> = group.iter().filter_map(|&g| built[g].take()).collect();
            if threads.len() == 1 {
                threads.pop()
            } else {
                Vec2::try_from(threads)
                    .ok()
                    .map(|answers| Thread::Nested { answers })
            }
        })
        .collect()
}

/// Deeper nesting than this is flattened by `to_imap`. Real threads rarely branch at more
/// than a few dozen successive levels; this keeps the recursive drop and clone of imap-types'
/// `Thread` far from the stack's limit.
const MAX_NESTING: usize = 200;

fn leaf(number: u32) -> Node {
    Node {
        message: Some(number),
        children: Vec::new(),
    }
}

/// RFC 5256 §2.2: by sent date, then by order in the mailbox.
fn sent_order(a: &ThreadMessage, b: &ThreadMessage) -> Ordering {
    (a.sent, a.number).cmp(&(b.sent, b.number))
}

/// The key base subjects are compared by. RFC 5256 asks for i;unicode-casemap (RFC 5051):
/// each character's simple titlecase, then NFKD. Without the Unicode tables for those, each
/// character's uppercase stands in where it is a single character (Rust's full mapping turns
/// "ß" into "SS", which a simple mapping does not). That groups what titlecase groups for
/// nearly all text, Latin, Greek and Cyrillic included; it differs for Georgian and for a
/// few characters whose uppercase is several, and it does not decompose, so a precomposed
/// "é" and "e" with a combining accent stay apart.
fn fold_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(single), None) => out.push(single),
            _ => out.push(c),
        }
    }
    out
}

/// RFC 5256 asks that a msg-id be compared after undoing the quoting RFC 2822 allows, so
/// `"abc"@host` and `abc@host` are the same; beyond that, octet by octet, case included.
fn normalize_id(id: &str) -> Cow<'_, str> {
    let Some(quoted) = id.strip_prefix('"') else {
        return Cow::Borrowed(id);
    };
    let mut local = String::with_capacity(id.len());
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => local.push(escaped),
                None => return Cow::Borrowed(id),
            },
            '"' => {
                local.push_str(&quoted[at + 1..]);
                return Cow::Owned(local);
            }
            _ => local.push(c),
        }
    }
    // No closing quote: not a quoted local part, so nothing to undo.
    Cow::Borrowed(id)
}

/// The ROOT of the RFC, and the parent of every thread until the answer is built.
const ROOT: usize = 0;

/// A message, or a dummy for a Message ID no searched message has.
struct Container {
    message: Option<usize>,
    /// Exact through step 1, whose loop checks climb it; after that only whether it is
    /// `ROOT` is read, and kept exact, to tell the threads still at the top.
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The REFERENCES working tree: containers by index, `ROOT` first.
struct Forest<'a> {
    messages: &'a [ThreadMessage],
    subjects: &'a [BaseSubject],
    /// `subjects` folded for comparison.
    keys: &'a [String],
    nodes: Vec<Container>,
}

impl<'a> Forest<'a> {
    fn new(messages: &'a [ThreadMessage], subjects: &'a [BaseSubject], keys: &'a [String]) -> Self {
        let root = Container {
            message: None,
            parent: None,
            children: Vec::new(),
        };
        Forest {
            messages,
            subjects,
            keys,
            nodes: vec![root],
        }
    }

    fn push(&mut self, message: Option<usize>) -> usize {
        self.nodes.push(Container {
            message,
            parent: None,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn is_dummy(&self, node: usize) -> bool {
        self.nodes[node].message.is_none()
    }

    fn is_reply(&self, node: usize) -> bool {
        self.nodes[node]
            .message
            .is_some_and(|m| self.subjects[m].reply_or_forward)
    }

    /// Step 1. Every message gets its container before any reference is followed, so that a
    /// reference finds its message whichever comes first in the mailbox; a Message ID belongs
    /// to the first message (lowest number) that has it, and a message with none, or with
    /// another's, is reachable by no reference, which is what a unique ID amounts to.
    fn link_references(&mut self) {
        let mut order: Vec<usize> = (0..self.messages.len()).collect();
        order.sort_by_key(|&i| self.messages[i].number);
        let messages = self.messages;
        let mut own = vec![ROOT; messages.len()];
        let mut by_id: HashMap<Cow<'a, str>, usize> = HashMap::new();
        for &i in &order {
            own[i] = self.push(Some(i));
            if let Some(id) = messages[i]
                .message_id
                .as_deref()
                .filter(|id| !id.is_empty())
            {
                by_id.entry(normalize_id(id)).or_insert(own[i]);
            }
        }
        for &i in &order {
            let chain: Vec<usize> = parent_ids(&messages[i])
                .map(|id| match by_id.entry(normalize_id(id)) {
                    Entry::Occupied(found) => *found.get(),
                    Entry::Vacant(missing) => *missing.insert(self.push(None)),
                })
                .collect();
            for pair in chain.windows(2) {
                self.link_if_parentless(pair[0], pair[1]);
            }
            self.reparent(own[i], chain.last().copied());
        }
    }

    /// Step 1.A: a link from a References header never overrides an earlier one, since the
    /// header may have been cut short and its neighbours need not be parent and child.
    fn link_if_parentless(&mut self, parent: usize, child: usize) {
        if self.nodes[child].parent.is_none() && !self.would_loop(parent, child) {
            self.attach(parent, child);
        }
    }

    /// Step 1.B: the message's own last reference is its parent, replacing any a truncated
    /// header suggested. The old link goes even when the new one cannot be made for making a
    /// loop: the RFC breaks it "before creating the new correct one", as it does when there
    /// is no reference at all.
    fn reparent(&mut self, child: usize, parent: Option<usize>) {
        self.detach(child);
        if let Some(parent) = parent
            && !self.would_loop(parent, child)
        {
            self.attach(parent, child);
        }
    }

    /// Whether making `parent` the parent of `child` would close a loop: `parent` is `child`
    /// or below it.
    fn would_loop(&self, parent: usize, child: usize) -> bool {
        if parent == child {
            return true;
        }
        // A container nothing hangs from has nothing below it; most new links are like that,
        // which keeps a long References chain linear.
        if self.nodes[child].children.is_empty() {
            return false;
        }
        let mut at = self.nodes[parent].parent;
        while let Some(node) = at {
            if node == child {
                return true;
            }
            at = self.nodes[node].parent;
        }
        false
    }

    fn attach(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn detach(&mut self, child: usize) {
        if let Some(parent) = self.nodes[child].parent.take() {
            self.nodes[parent].children.retain(|&c| c != child);
        }
    }

    /// Step 2.
    fn gather_roots(&mut self) {
        let roots: Vec<usize> = (ROOT + 1..self.nodes.len())
            .filter(|&n| self.nodes[n].parent.is_none())
            .collect();
        for &n in &roots {
            self.nodes[n].parent = Some(ROOT);
        }
        self.nodes[ROOT].children = roots;
    }

    /// ROOT and everything under it, each node after all of its descendants.
    fn bottom_up(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![ROOT];
        while let Some(n) = stack.pop() {
            order.push(n);
            stack.extend(&self.nodes[n].children);
        }
        order.reverse();
        order
    }

    /// Step 3, from the leaves up, so that a dummy's children are counted once the dummies
    /// among them are gone: a dummy that leaves one real child at the top gives way to it.
    fn prune_dummies(&mut self) {
        for n in self.bottom_up() {
            let children = std::mem::take(&mut self.nodes[n].children);
            let mut kept = Vec::with_capacity(children.len());
            for child in children {
                if !self.is_dummy(child) {
                    kept.push(child);
                    continue;
                }
                let mut grandchildren = std::mem::take(&mut self.nodes[child].children);
                if n == ROOT && grandchildren.len() > 1 {
                    self.nodes[child].children = grandchildren;
                    kept.push(child);
                    continue;
                }
                self.nodes[child].parent = None;
                if n == ROOT {
                    for &g in &grandchildren {
                        self.nodes[g].parent = Some(ROOT);
                    }
                }
                // Below the top, parents are not read again, and leaving them lets a chain
                // of dummies hand a long list of children up without touching each child
                // at every level.
                if kept.is_empty() {
                    kept = grandchildren;
                } else {
                    kept.append(&mut grandchildren);
                }
            }
            self.nodes[n].children = kept;
        }
    }

    /// Step 4: only the top level, and the children of the dummies there, which decide
    /// where a dummy sorts.
    fn sort_roots(&mut self) {
        let roots = self.nodes[ROOT].children.clone();
        for &n in &roots {
            if self.is_dummy(n) {
                self.sort_children(n);
            }
        }
        self.sort_children(ROOT);
    }

    fn sort_children(&mut self, n: usize) {
        let mut children = std::mem::take(&mut self.nodes[n].children);
        children.sort_by_key(|&c| self.date_key(c));
        self.nodes[n].children = children;
    }

    /// A message sorts by its sent date and number; a dummy as its first child does.
    fn date_key(&self, mut n: usize) -> (i64, u32) {
        loop {
            if let Some(m) = self.nodes[n].message {
                return (self.messages[m].sent, self.messages[m].number);
            }
            match self.nodes[n].children.first() {
                Some(&first) => n = first,
                None => return (i64::MAX, u32::MAX),
            }
        }
    }

    /// The base subject a thread is known by, folded: its top message's, or a dummy's first
    /// child's. None when empty, as step 5 skips those.
    fn thread_key(&self, mut n: usize) -> Option<&'a str> {
        let keys = self.keys;
        loop {
            if let Some(m) = self.nodes[n].message {
                let key = keys[m].as_str();
                return (!key.is_empty()).then_some(key);
            }
            n = *self.nodes[n].children.first()?;
        }
    }

    /// Step 5.
    fn group_roots_by_subject(&mut self) {
        let roots = self.nodes[ROOT].children.clone();
        let mut table = self.subject_table(&roots);
        let mut made = Vec::new();
        for &current in &roots {
            // Merged into another thread earlier in this loop.
            if self.nodes[current].parent != Some(ROOT) {
                continue;
            }
            let Some(key) = self.thread_key(current) else {
                continue;
            };
            let Some(&held) = table.get(key) else {
                continue;
            };
            if held == current {
                continue;
            }
            if let Some(dummy) = self.merge(held, current) {
                table.insert(key, dummy);
                made.push(dummy);
            }
        }
        let kept = roots
            .into_iter()
            .chain(made)
            .filter(|&n| self.nodes[n].parent == Some(ROOT));
        self.nodes[ROOT].children = kept.collect();
    }

    /// Step 5.B: per subject, a dummy if there is one, else the first thread that is not a
    /// reply, else the first.
    fn subject_table(&self, roots: &[usize]) -> HashMap<&'a str, usize> {
        let mut table: HashMap<&'a str, usize> = HashMap::new();
        for &current in roots {
            let Some(key) = self.thread_key(current) else {
                continue;
            };
            match table.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(current);
                }
                Entry::Occupied(mut slot) => {
                    let held = *slot.get();
                    let replace = !self.is_dummy(held)
                        && (self.is_dummy(current)
                            || (self.is_reply(held) && !self.is_reply(current)));
                    if replace {
                        slot.insert(current);
                    }
                }
            }
        }
        table
    }

    /// Step 5.C's rules for one thread `current` whose subject's table entry is `held`; a
    /// dummy made to hold both is returned, to take `held`'s place in the table.
    fn merge(&mut self, held: usize, current: usize) -> Option<usize> {
        match (self.is_dummy(held), self.is_dummy(current)) {
            (true, true) => {
                let children = std::mem::take(&mut self.nodes[current].children);
                for child in children {
                    self.attach(held, child);
                }
                self.nodes[current].parent = None;
                None
            }
            (true, false) => {
                self.attach(held, current);
                None
            }
            _ if self.is_reply(current) && !self.is_reply(held) => {
                self.attach(held, current);
                None
            }
            _ => {
                let dummy = self.push(None);
                self.nodes[dummy].parent = Some(ROOT);
                self.attach(dummy, held);
                self.attach(dummy, current);
                Some(dummy)
            }
        }
    }

    /// Step 6: every set of siblings, the deepest first, so a dummy's first child is settled
    /// before the dummy is placed.
    fn sort_siblings(&mut self) {
        for n in self.bottom_up() {
            self.sort_children(n);
        }
    }

    fn into_nodes(self) -> Vec<Node> {
        let mut built: Vec<Option<Node>> = Vec::new();
        built.resize_with(self.nodes.len(), || None);
        for n in self.bottom_up() {
            let children = self.nodes[n]
                .children
                .iter()
                .filter_map(|&c| built[c].take())
                .collect();
            let message = self.nodes[n].message.map(|m| self.messages[m].number);
            built[n] = Some(Node { message, children });
        }
        built[ROOT]
            .take()
            .map(|mut root| std::mem::take(&mut root.children))
            .unwrap_or_default()
    }
}

/// The references a message's ancestry is built from: References if it names any, else the
/// first of In-Reply-To, whose further entries are too often not Message IDs.
fn parent_ids(message: &ThreadMessage) -> impl Iterator<Item = &str> {
    let valid = |id: &&String| !id.is_empty();
    let references: Vec<&str> = message
        .references
        .iter()
        .filter(valid)
        .map(String::as_str)
        .collect();
    let chosen = if references.is_empty() {
        message
            .in_reply_to
            .iter()
            .find(valid)
            .map(String::as_str)
            .into_iter()
            .collect()
    } else {
        references
    };
    chosen.into_iter()
}

/// A `Node` forest with dummies and unnumbered messages spliced out, ready to become
/// `Thread`s: every node has a number.
struct Numbered {
    nodes: Vec<NumberedNode>,
    /// One entry per top-level answer: a single thread, or a group of several under a dummy.
    tops: Vec<Vec<usize>>,
}

struct NumberedNode {
    number: NonZeroU32,
    children: Vec<usize>,
}

impl Numbered {
    fn of(forest: &[Node]) -> Numbered {
        let mut tree = Numbered {
            nodes: Vec::new(),
            tops: Vec::new(),
        };
        let mut pending: Vec<(usize, &Node)> = Vec::new();
        for top in forest {
            let group = tree.add_numbered(std::slice::from_ref(top), &mut pending);
            if !group.is_empty() {
                tree.tops.push(group);
            }
        }
        while let Some((parent, node)) = pending.pop() {
            let children = tree.add_numbered(&node.children, &mut pending);
            tree.nodes[parent].children = children;
        }
        tree
    }

    /// Adds the numbered nodes of `siblings`, looking through unnumbered ones to their
    /// children in place, and queues each added node for its own children.
    fn add_numbered<'n>(
        &mut self,
        siblings: &'n [Node],
        pending: &mut Vec<(usize, &'n Node)>,
    ) -> Vec<usize> {
        let mut added = Vec::new();
        let mut levels = vec![siblings.iter()];
        while let Some(level) = levels.last_mut() {
            let Some(node) = level.next() else {
                levels.pop();
                continue;
            };
            match node.message.and_then(NonZeroU32::new) {
                Some(number) => {
                    self.nodes.push(NumberedNode {
                        number,
                        children: Vec::new(),
                    });
                    let index = self.nodes.len() - 1;
                    pending.push((index, node));
                    added.push(index);
                }
                None => levels.push(node.children.iter()),
            }
        }
        added
    }

    /// Where each `Thread` starts (a top-level message, or a child of a message with several
    /// children), parents before children. A message nested `MAX_NESTING` deep keeps its
    /// descendants out of this list: `thread_at` lists them flat.
    fn heads(&self) -> Vec<usize> {
        let mut heads = Vec::new();
        let mut pending: Vec<(usize, usize)> = Vec::new();
        for group in &self.tops {
            let depth = usize::from(group.len() > 1);
            pending.extend(group.iter().map(|&g| (g, depth)));
        }
        while let Some((head, depth)) = pending.pop() {
            heads.push(head);
            let end = self.chain_end(head);
            if depth < MAX_NESTING {
                pending.extend(self.nodes[end].children.iter().map(|&c| (c, depth + 1)));
            }
        }
        heads
    }

    /// The last of the messages that follow `head` one child at a time.
    fn chain_end(&self, mut at: usize) -> usize {
        while let [only] = self.nodes[at].children.as_slice() {
            at = *only;
        }
        at
    }

    /// The `Thread` starting at `head`, its sub-threads taken from `built`, or, where those
    /// were not built for being too deep, made of every descendant as a childless member.
    fn thread_at(&self, head: usize, built: &mut [Option<Thread>]) -> Option<Thread> {
        let mut prefix = vec![self.nodes[head].number];
        let mut at = head;
        while let [only] = self.nodes[at].children.as_slice() {
            at = *only;
            prefix.push(self.nodes[at].number);
        }
        let children = &self.nodes[at].children;
        let answers: Vec<Thread> = if children.iter().all(|&c| built[c].is_some()) {
            children.iter().filter_map(|&c| built[c].take()).collect()
        } else {
            self.descendants(at).into_iter().map(single).collect()
        };
        // A chain ends where there are no answers or at least two, as Vec2 wants.
        let answers = match answers.len() {
            0 => None,
            _ => Some(Vec2::try_from(answers).ok()?),
        };
        Some(Thread::Members {
            prefix: Vec1::try_from(prefix).ok()?,
            answers,
        })
    }

    fn descendants(&self, of: usize) -> Vec<NonZeroU32> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.nodes[of].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(self.nodes[n].number);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }
}

fn single(number: NonZeroU32) -> Thread {
    Thread::Members {
        prefix: Vec1::from(number),
        answers: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message: number, sent date, subject, Message-ID, References.
    fn m(number: u32, sent: i64, subject: &str, id: &str, references: &[&str]) -> ThreadMessage {
        ThreadMessage {
            number,
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: references.iter().map(|r| r.to_string()).collect(),
            in_reply_to: Vec::new(),
            subject: subject.to_string(),
            sent,
        }
    }

    fn replying(mut message: ThreadMessage, in_reply_to: &[&str]) -> ThreadMessage {
        message.in_reply_to = in_reply_to.iter().map(|r| r.to_string()).collect();
        message
    }

    /// The RFC's parenthesised form, as the THREAD response carries it.
    fn format(nodes: &[Node]) -> String {
        to_imap(nodes).iter().map(ToString::to_string).collect()
    }

    fn check_references(messages: &[ThreadMessage], expected: &str) {
        assert_eq!(format(&references(messages)), expected, "REFERENCES");
    }

    fn check_ordered(messages: &[ThreadMessage], expected: &str) {
        assert_eq!(
            format(&ordered_subject(messages)),
            expected,
            "ORDEREDSUBJECT"
        );
    }

    fn node(message: Option<u32>, children: Vec<Node>) -> Node {
        Node { message, children }
    }

    /// The data behind RFC 5256's THREAD examples (A283 and A285): the RFC gives only the
    /// answers, so these messages are made up to fit both of them.
    fn rfc_example() -> Vec<ThreadMessage> {
        let mut messages = vec![
            m(170, 1700, "s170", "", &["lost"]),
            m(172, 1695, "s172", "", &[]),
            m(174, 1740, "s174", "", &[]),
            m(175, 1750, "s174", "", &[]),
            m(176, 1760, "Re: s174", "", &[]),
            m(177, 1770, "s177", "", &[]),
            m(178, 1780, "[list] s174", "", &[]),
            m(179, 1755, "s179", "", &["lost"]),
            m(180, 1800, "Re: s174", "", &[]),
            m(181, 1790, "Fwd: s174", "", &[]),
            m(182, 1772, "Re: s177", "", &[]),
            m(183, 1771, "s177", "", &[]),
            m(184, 1774, "Re: s177", "", &["m188"]),
            m(185, 1775, "S177", "m185", &[]),
            m(186, 1776, "Re: s177", "", &["m185"]),
            m(187, 1777, "Re: Re: s177", "", &[]),
            m(188, 1773, "Re: s177", "m188", &[]),
            m(189, 1778, "RE: s177", "", &["m188"]),
            m(194, 1940, "s194", "", &[]),
            m(195, 1950, "s194", "m195", &[]),
            m(196, 1960, "s196", "", &["m195"]),
            m(197, 1970, "Re: s196", "m197", &[]),
            m(198, 1980, "Re: s196", "", &["m197"]),
            m(200, 2000, "s200", "", &[]),
            m(202, 2020, "Re: s200", "", &[]),
            m(205, 2050, "s205", "m205", &[]),
            m(206, 2060, "s206", "m206", &["m205"]),
            m(207, 2070, "Re: s206", "", &["m205", "m206"]),
        ];
        for n in [
            166, 167, 168, 169, 171, 173, 190, 191, 192, 193, 199, 201, 203, 204, 208,
        ] {
            messages.push(m(n, i64::from(n) * 10, &format!("s{n}"), "", &[]));
        }
        messages.sort_by_key(|m| m.number);
        messages
    }

    #[test]
    fn rfc_example_ordered_subject() {
        check_ordered(
            &rfc_example(),
            "(166)(167)(168)(169)(172)(170)(171)\
             (173)(174 (175)(176)(178)(181)(180))(179)(177 \
             (183)(182)(188)(184)(185)(186)(187)(189))(190)\
             (191)(192)(193)(194 195)(196 (197)(198))(199)\
             (200 202)(201)(203)(204)(205)(206 207)(208)",
        );
    }

    #[test]
    fn rfc_example_references() {
        check_references(
            &rfc_example(),
            "(166)(167)(168)(169)(172)((170)(179))\
             (171)(173)((174)(175)(176)(178)(181)(180))\
             ((177)(183)(182)(188 (184)(189))(185 186)(187))\
             (190)(191)(192)(193)((194)(195 196))(197 198)\
             (199)(200 202)(201)(203)(204)(205 206 207)(208)",
        );
    }

    #[test]
    fn rfc_response_examples() {
        // `* THREAD (2)(3 6 (4 23)(44 7 96))`: 4 and 44 both answer 6.
        let chain = ["m3", "m6"];
        check_references(
            &[
                m(2, 1, "other", "m2", &[]),
                m(3, 2, "x", "m3", &[]),
                m(4, 4, "Re: x", "m4", &chain),
                m(6, 3, "Re: x", "m6", &["m3"]),
                m(7, 7, "Re: x", "m7", &["m3", "m6", "m44"]),
                m(23, 6, "Re: x", "m23", &["m3", "m6", "m4"]),
                m(44, 5, "Re: x", "m44", &chain),
                m(96, 8, "Re: x", "m96", &["m3", "m6", "m44", "m7"]),
            ],
            "(2)(3 6 (4 23)(44 7 96))",
        );
        // `* THREAD ((3)(5))`: siblings under a message that is not in the set.
        check_references(
            &[
                m(3, 1, "Re: x", "", &["gone"]),
                m(5, 2, "Re: x", "", &["gone"]),
            ],
            "((3)(5))",
        );
    }

    #[test]
    fn encodes_as_the_rfc_shows() {
        use imap_codec::ResponseCodec;
        use imap_codec::encode::Encoder;
        use imap_types::response::{Data, Response};

        let encode = |threads: Vec<Thread>| {
            let response = Response::Data(Data::Thread(threads));
            ResponseCodec::default().encode(&response).dump()
        };
        let tree = vec![
            node(Some(2), vec![]),
            node(
                Some(3),
                vec![node(
                    Some(6),
                    vec![
                        node(Some(4), vec![node(Some(23), vec![])]),
                        node(Some(44), vec![node(Some(7), vec![node(Some(96), vec![])])]),
                    ],
                )],
            ),
        ];
        assert_eq!(
            encode(to_imap(&tree)),
            b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
        );
        let dummy = vec![node(
            None,
            vec![node(Some(3), vec![]), node(Some(5), vec![])],
        )];
        assert_eq!(encode(to_imap(&dummy)), b"* THREAD ((3)(5))\r\n");
        assert_eq!(encode(to_imap(&[])), b"* THREAD\r\n");
    }

    #[test]
    fn to_imap_shapes() {
        let cases: Vec<(Vec<Node>, &str)> = vec![
            (vec![], ""),
            (
                vec![node(
                    Some(1),
                    vec![node(Some(2), vec![node(Some(3), vec![])])],
                )],
                "(1 2 3)",
            ),
            (
                vec![node(
                    Some(1),
                    vec![node(Some(2), vec![]), node(Some(3), vec![])],
                )],
                "(1 (2)(3))",
            ),
            (
                vec![node(
                    None,
                    vec![node(Some(1), vec![]), node(Some(2), vec![])],
                )],
                "((1)(2))",
            ),
            (vec![node(None, vec![node(Some(1), vec![])])], "(1)"),
            (vec![node(None, vec![])], ""),
            // Numbers of 0 cannot be sent: they count as dummies.
            (vec![node(Some(0), vec![])], ""),
            (
                vec![node(
                    Some(0),
                    vec![node(Some(2), vec![]), node(Some(3), vec![])],
                )],
                "((2)(3))",
            ),
            (
                vec![node(
                    Some(1),
                    vec![node(Some(0), vec![node(Some(2), vec![])])],
                )],
                "(1 2)",
            ),
            (
                vec![node(
                    Some(1),
                    vec![node(
                        None,
                        vec![node(Some(2), vec![]), node(Some(3), vec![])],
                    )],
                )],
                "(1 (2)(3))",
            ),
            (
                vec![node(
                    None,
                    vec![
                        node(None, vec![node(Some(1), vec![]), node(Some(2), vec![])]),
                        node(Some(3), vec![]),
                    ],
                )],
                "((1)(2)(3))",
            ),
            (
                vec![node(
                    Some(1),
                    vec![node(
                        Some(2),
                        vec![node(Some(3), vec![]), node(Some(4), vec![])],
                    )],
                )],
                "(1 2 (3)(4))",
            ),
        ];
        for (tree, expected) in cases {
            assert_eq!(format(&tree), expected);
        }
    }

    #[test]
    fn references_links() {
        let cases: Vec<(&str, Vec<ThreadMessage>, &str)> = vec![
            ("no messages", vec![], ""),
            (
                "In-Reply-To when References is empty, its first ID only",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "b", &[]),
                    replying(m(3, 3, "c", "", &[]), &["a", "b"]),
                ],
                "(1 3)(2)",
            ),
            (
                "References before In-Reply-To",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "b", &[]),
                    replying(m(3, 3, "c", "", &["a"]), &["b"]),
                ],
                "(1 3)(2)",
            ),
            (
                "empty IDs are no references",
                vec![
                    m(1, 1, "a", "a", &[]),
                    replying(m(2, 2, "b", "", &[""]), &["", "a"]),
                ],
                "(1 2)",
            ),
            (
                "a missing parent leaves its child at the top",
                vec![m(1, 1, "a", "", &["gone"])],
                "(1)",
            ),
            (
                "a missing message within the chain is spliced out",
                vec![m(1, 1, "a", "a", &[]), m(2, 2, "b", "", &["a", "gone"])],
                "(1 2)",
            ),
            (
                "dummy at the top with several children, dummies below it spliced",
                vec![
                    m(1, 1, "a", "", &["p", "q"]),
                    m(2, 2, "b", "", &["p", "r"]),
                    m(3, 3, "c", "", &["p"]),
                ],
                "((1)(2)(3))",
            ),
            (
                "a dummy at the top with one child gives way to it",
                vec![m(1, 1, "a", "", &["p", "q"]), m(2, 2, "b", "", &[])],
                "(1)(2)",
            ),
            (
                "dummies under dummies spliced into one group at the top",
                vec![
                    m(1, 1, "a", "", &["p", "q"]),
                    m(2, 2, "b", "", &["p", "q", "1"]),
                ],
                "((1)(2))",
            ),
            (
                // Message 2 refuses to be its own parent and leaves x childless under p:
                // counted before x goes, p would keep two children and stay, holding one.
                "a dummy at the top counts its children once dummies below are gone",
                vec![
                    m(1, 1, "a", "", &["p"]),
                    m(2, 2, "b", "c", &["p", "x", "c"]),
                ],
                "(1)(2)",
            ),
            (
                "references to each other: the later one cannot close the loop",
                vec![m(1, 1, "a", "a", &["b"]), m(2, 2, "b", "b", &["a"])],
                "(2 1)",
            ),
            (
                "a loop within one References header",
                vec![m(1, 1, "a", "", &["x", "y", "x"])],
                "(1)",
            ),
            (
                "a message referring to itself",
                vec![m(1, 1, "a", "a", &["a"])],
                "(1)",
            ),
            (
                "its own ID last: the loop is refused and the old parent dropped",
                vec![m(1, 1, "a", "a", &[]), m(2, 2, "b", "b", &["a", "b"])],
                "(1)(2)",
            ),
            (
                "a three-message loop",
                vec![
                    m(1, 1, "a", "a", &["c"]),
                    m(2, 2, "b", "b", &["a"]),
                    m(3, 3, "c", "c", &["b"]),
                ],
                "(3 1 2)",
            ),
            (
                "a duplicate Message-ID belongs to the first message",
                vec![
                    m(1, 1, "a", "dup", &[]),
                    m(2, 2, "b", "dup", &[]),
                    m(3, 3, "c", "", &["dup"]),
                ],
                "(1 3)(2)",
            ),
            (
                "a reference does not move a message that already has a parent",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "b", &[]),
                    m(3, 3, "c", "", &["a", "x"]),
                    m(4, 4, "d", "", &["b", "x"]),
                ],
                "(1 (3)(4))(2)",
            ),
            (
                "a message's own references replace what a truncated header implied",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "c", &["a", "b"]),
                    m(3, 3, "c", "b", &[]),
                    m(4, 4, "d", "", &["a", "d"]),
                    m(5, 5, "e", "d", &["x"]),
                ],
                "(1)(3 2)(5 4)",
            ),
            (
                "a later message's own header moves it",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "b", &[]),
                    m(3, 3, "c", "", &["a", "m4"]),
                    m(4, 4, "d", "m4", &["b"]),
                ],
                "(1)(2 4 3)",
            ),
            (
                "Message-IDs are compared with case, quoting undone",
                vec![
                    m(1, 1, "a", "ID@x", &[]),
                    m(2, 2, "b", "", &["id@x"]),
                    m(3, 3, "c", "\"q\\\"t\"@x", &[]),
                    m(4, 4, "d", "", &["q\"t@x"]),
                ],
                "(1)(2)(3 4)",
            ),
        ];
        for (name, messages, expected) in cases {
            assert_eq!(format(&references(&messages)), expected, "{name}");
        }
    }

    #[test]
    fn references_sorting() {
        let cases: Vec<(&str, Vec<ThreadMessage>, &str)> = vec![
            (
                "siblings by sent date, then by number",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 5, "b", "", &["a"]),
                    m(3, 5, "c", "", &["a"]),
                    m(4, 4, "d", "", &["a"]),
                ],
                "(1 (4)(2)(3))",
            ),
            (
                "threads by the date of their top message",
                vec![
                    m(1, 9, "a", "", &[]),
                    m(2, 3, "b", "", &[]),
                    m(3, 3, "c", "", &[]),
                ],
                "(2)(3)(1)",
            ),
            (
                "a dummy sorts as its earliest child",
                vec![
                    m(1, 50, "a", "", &["p"]),
                    m(2, 20, "b", "", &[]),
                    m(3, 10, "c", "", &["p"]),
                ],
                "((3)(1))(2)",
            ),
            (
                "grandchildren sorted too",
                vec![
                    m(1, 1, "a", "a", &[]),
                    m(2, 2, "b", "b", &["a"]),
                    m(3, 9, "c", "", &["a", "b"]),
                    m(4, 8, "d", "", &["a", "b"]),
                ],
                "(1 2 (4)(3))",
            ),
        ];
        for (name, messages, expected) in cases {
            assert_eq!(format(&references(&messages)), expected, "{name}");
        }
    }

    #[test]
    fn references_subject_grouping() {
        let cases: Vec<(&str, Vec<ThreadMessage>, &str)> = vec![
            (
                "a reply goes under the original",
                vec![m(1, 1, "x", "", &[]), m(2, 2, "Re: x", "", &[])],
                "(1 2)",
            ),
            (
                "a forward too, and case does not matter",
                vec![m(1, 1, "Hello", "", &[]), m(2, 2, "[fwd: HELLO]", "", &[])],
                "(1 2)",
            ),
            (
                "an earlier reply goes under the original",
                vec![m(1, 10, "x", "", &[]), m(2, 5, "Re: x", "", &[])],
                "(1 2)",
            ),
            (
                "two originals share a dummy",
                vec![m(1, 1, "x", "", &[]), m(2, 2, "x", "", &[])],
                "((1)(2))",
            ),
            (
                "two replies share a dummy",
                vec![m(1, 1, "Re: x", "", &[]), m(2, 2, "Re: x", "", &[])],
                "((1)(2))",
            ),
            (
                "once there is a dummy, the rest join it",
                vec![
                    m(1, 1, "x", "", &[]),
                    m(2, 2, "x", "", &[]),
                    m(3, 3, "Re: x", "", &[]),
                ],
                "((1)(2)(3))",
            ),
            (
                "a dummy from references takes the others of its subject",
                vec![
                    m(1, 1, "x", "", &["p"]),
                    m(2, 2, "Re: x", "", &["p"]),
                    m(3, 3, "x", "", &[]),
                ],
                "((1)(2)(3))",
            ),
            (
                "two dummies of one subject become one",
                vec![
                    m(1, 1, "x", "", &["p"]),
                    m(2, 2, "x", "", &["p"]),
                    m(3, 3, "Re: x", "", &["q"]),
                    m(4, 4, "Re: x", "", &["q"]),
                ],
                "((1)(2)(3)(4))",
            ),
            (
                "the dummy's subject is its first child's",
                vec![
                    m(1, 1, "x", "", &["p"]),
                    m(2, 2, "y", "", &["p"]),
                    m(3, 3, "Re: y", "", &[]),
                ],
                "((1)(2))(3)",
            ),
            (
                "a whole thread moves under the original",
                vec![
                    m(1, 1, "x", "", &[]),
                    m(2, 2, "Re: x", "r", &[]),
                    m(3, 3, "Re: x", "", &["r"]),
                ],
                "(1 2 3)",
            ),
            (
                "only threads at the top are grouped",
                vec![
                    m(1, 1, "x", "a", &[]),
                    m(2, 2, "y", "", &["a"]),
                    m(3, 3, "Re: y", "", &[]),
                ],
                "(1 2)(3)",
            ),
            (
                "empty subjects are never grouped",
                vec![
                    m(1, 1, "", "", &[]),
                    m(2, 2, "Re:", "", &[]),
                    m(3, 3, "", "", &[]),
                ],
                "(1)(2)(3)",
            ),
            (
                "list tags do not make a reply",
                vec![m(1, 1, "[l] x", "", &[]), m(2, 2, "x", "", &[])],
                "((1)(2))",
            ),
        ];
        for (name, messages, expected) in cases {
            assert_eq!(format(&references(&messages)), expected, "{name}");
        }
    }

    #[test]
    fn ordered_subject_cases() {
        let cases: Vec<(&str, Vec<ThreadMessage>, &str)> = vec![
            ("no messages", vec![], ""),
            (
                "every later message is a child of the first",
                vec![
                    m(1, 1, "x", "", &[]),
                    m(2, 2, "Re: x", "", &[]),
                    m(3, 3, "RE: X", "", &[]),
                    m(4, 4, "y", "", &[]),
                ],
                "(1 (2)(3))(4)",
            ),
            (
                "one answer is a chain of two",
                vec![m(1, 1, "x", "", &[]), m(2, 2, "Re: x", "", &[])],
                "(1 2)",
            ),
            (
                "the earliest is the parent, ties by number",
                vec![
                    m(1, 5, "Re: x", "", &[]),
                    m(2, 9, "x", "", &[]),
                    m(3, 5, "x", "", &[]),
                ],
                "(1 (3)(2))",
            ),
            (
                "threads by their first message, references ignored",
                vec![
                    m(1, 9, "a", "a", &[]),
                    m(2, 3, "b", "", &["a"]),
                    m(3, 1, "Re: a", "", &[]),
                ],
                "(3 1)(2)",
            ),
            (
                "empty subjects are one subject",
                vec![m(1, 1, "", "", &[]), m(2, 2, "Re:", "", &[])],
                "(1 2)",
            ),
        ];
        for (name, messages, expected) in cases {
            assert_eq!(format(&ordered_subject(&messages)), expected, "{name}");
        }
    }

    fn numbers(text: &str) -> Vec<u32> {
        let mut found: Vec<u32> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        found.sort_unstable();
        found
    }

    fn deepest_parenthesis(text: &str) -> usize {
        let (mut depth, mut deepest) = (0usize, 0usize);
        for c in text.chars() {
            match c {
                '(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn a_ten_thousand_long_references_header() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("gone{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut messages = vec![m(1, 1, "x", "one", &refs), m(2, 2, "Re: x", "", &refs)];
        messages.push(m(3, 3, "y", "", &[]));
        check_references(&messages, "((1)(2))(3)");
        // The message itself halfway along: the loop is refused.
        let mut looping = refs.clone();
        looping.insert(5_000, "one");
        check_references(&[m(1, 1, "x", "one", &looping)], "(1)");
        // Ten thousand answers under the end of that chain of dummies, all handed up to its
        // top, which keeps them together.
        let mut messages = vec![m(1, 1, "s1", "", &refs)];
        messages
            .extend((2..=10_001).map(|n| m(n, i64::from(n), &format!("s{n}"), "", &[&ids[9_999]])));
        let expected: String = (1..=10_001).map(|n| format!("({n})")).collect();
        check_references(&messages, &format!("({expected})"));
    }

    #[test]
    fn a_ten_thousand_deep_thread() {
        let messages: Vec<ThreadMessage> = (1..=10_000u32)
            .map(|n| {
                let parent = format!("m{}", n - 1);
                let refs: &[&str] = if n == 1 { &[] } else { &[&parent] };
                m(n, i64::from(n), "Re: deep", &format!("m{n}"), refs)
            })
            .collect();
        let expected: Vec<String> = (1..=10_000).map(|n| n.to_string()).collect();
        let expected = format!("({})", expected.join(" "));
        check_references(&messages, &expected);
        let flat = ordered_subject(&messages);
        assert_eq!(flat.len(), 1);
        assert_eq!(flat[0].children.len(), 9_999);
    }

    #[test]
    fn deep_branching_is_flattened_below_the_limit() {
        // A spine where every message has a leaf answer and the next spine message.
        let mut messages = Vec::new();
        for k in 0..2_000u32 {
            let spine = 2 * k + 1;
            let parent = format!("s{}", k.saturating_sub(1));
            let refs: &[&str] = if k == 0 { &[] } else { &[&parent] };
            messages.push(m(spine, i64::from(spine), "x", &format!("s{k}"), refs));
            let own = format!("s{k}");
            messages.push(m(spine + 1, i64::from(spine + 1), "Re: x", "", &[&own]));
        }
        let text = format(&references(&messages));
        assert_eq!(numbers(&text), (1..=4_000).collect::<Vec<u32>>());
        assert!(text.starts_with("(1 (2)(3 (4)(5 (6)(7 "), "{}", &text[..40]);
        assert_eq!(deepest_parenthesis(&text), MAX_NESTING + 2);
    }
}
