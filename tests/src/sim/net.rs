//! The simulated network: bundles in flight between replicas, with loss, duplication,
//! reordering, delay, long holds and partitions, all drawn from the run's seed.

use crate::rng::Rng;
use nomamail_core::ItemId;
use std::collections::{BTreeSet, HashMap};

/// What the simulator knows about one bundle in flight: its bytes, and for each item it
/// carries, which operations the sender's state of that item included when it was made.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: usize,
    /// The sender's replica id when it made the bundle: a replica restored since has
    /// another, and its peers refuse what the replaced one sent.
    pub from_id: nomamail_core::ReplicaId,
    pub to: usize,
    pub deliver_at: u64,
    pub wire: Vec<u8>,
    pub knowledge: HashMap<ItemId, BTreeSet<u64>>,
    /// Held packets wait for the end of the chaos phase, like mail queued for days.
    pub held: bool,
}

#[derive(Clone, Debug)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub hold: f64,
    pub max_delay_ms: u64,
}

#[derive(Default)]
pub struct Net {
    pub in_flight: Vec<Packet>,
    /// (a, b) → the link is down until this time.
    pub down_until: HashMap<(usize, usize), u64>,
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub held: u64,
    pub bytes: u64,
}

impl Net {
    pub fn link_up(&self, a: usize, b: usize, now: u64) -> bool {
        let key = (a.min(b), a.max(b));
        self.down_until.get(&key).is_none_or(|&t| t <= now)
    }

    pub fn cut(&mut self, a: usize, b: usize, until: u64) {
        let key = (a.min(b), a.max(b));
        let slot = self.down_until.entry(key).or_insert(0);
        *slot = (*slot).max(until);
    }

    pub fn heal(&mut self) {
        self.down_until.clear();
        for p in &mut self.in_flight {
            p.held = false;
        }
    }

    /// Put a bundle on the wire under the given faults.
    pub fn send(&mut self, rng: &mut Rng, faults: &Faults, mut packet: Packet, now: u64) {
        self.sent += 1;
        self.bytes += packet.wire.len() as u64;
        let key = (packet.from.min(packet.to), packet.from.max(packet.to));
        let link_back_at = self.down_until.get(&key).copied().filter(|&t| t > now);
        if rng.chance(faults.loss) || (link_back_at.is_some() && rng.chance(0.5)) {
            self.lost += 1;
            return;
        }
        // Across a cut link, mail waits in a queue until the link is back.
        let start = link_back_at.unwrap_or(now);
        packet.held = rng.chance(faults.hold);
        if packet.held {
            self.held += 1;
        }
        packet.deliver_at = start + rng.below(faults.max_delay_ms + 1);
        if rng.chance(faults.duplicate) {
            self.duplicated += 1;
            let mut copy = packet.clone();
            copy.deliver_at = start + rng.below(faults.max_delay_ms * 4 + 1);
            self.in_flight.push(copy);
        }
        self.in_flight.push(packet);
    }

    /// Packets due by `now`, in a seeded order (so equal times are delivered in any order).
    pub fn due(&mut self, rng: &mut Rng, now: u64) -> Vec<Packet> {
        let (mut due, rest): (Vec<Packet>, Vec<Packet>) = self
            .in_flight
            .drain(..)
            .partition(|p| !p.held && p.deliver_at <= now);
        self.in_flight = rest;
        for i in (1..due.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            due.swap(i, j);
        }
        due
    }
}
