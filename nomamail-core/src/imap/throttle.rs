//! Slowing down password guessing. Failures are counted per source — an IPv4 address or an
//! IPv6 /64 (one host's whole allocation) — and per user name; each failure doubles, up to
//! a cap, how long the next check for that source or user must wait. The wait comes before
//! the password is checked, so opening many connections does not buy more guesses, and
//! concurrent logins from one source are capped.
//!
//! A success clears only what that source and user together earned: someone else logging in
//! from the same network, or into another account, does not clear an attacker's penalty.
//! The tables are bounded; when full, the entries idle longest go first, never all at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(16);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// Entries remembered per table; a flood of sources or names cannot grow memory further.
const MAX_ENTRIES: usize = 10_000;
/// Logins being checked at once from one source.
pub const MAX_CONCURRENT: u32 = 4;
/// User names are remembered up to this many bytes.
const MAX_NAME: usize = 256;

/// Where a login comes from, as penalties count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    V4([u8; 4]),
    /// The first 64 bits: one subscriber's prefix, however many addresses it uses.
    V6([u8; 8]),
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Source::V6(prefix)
                }
            },
        }
    }
}

#[derive(Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

impl Record {
    fn current(&self, now: Instant) -> u32 {
        if now.duration_since(self.last) >= MEMORY {
            0
        } else {
            self.failures
        }
    }

    /// When the next check may run.
    fn not_before(&self, now: Instant) -> Instant {
        match self.current(now) {
            0 => now,
            n => self.last + delay(n),
        }
    }
}

fn delay(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(6);
    (FIRST_DELAY * factor).min(MAX_DELAY)
}

fn name_key(user: &str) -> String {
    let mut end = user.len().min(MAX_NAME);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_string()
}

#[derive(Default)]
struct Tables {
    by_source: HashMap<Source, Record>,
    by_user: HashMap<String, Record>,
    by_pair: HashMap<(Source, String), u32>,
    in_flight: HashMap<Source, u32>,
}

/// Makes room in a full table: drops what is forgotten anyway, then the longest idle tenth.
fn make_room<K: Clone + Eq + std::hash::Hash>(table: &mut HashMap<K, Record>, now: Instant) {
    if table.len() < MAX_ENTRIES {
        return;
    }
    table.retain(|_, r| r.current(now) > 0);
    if table.len() < MAX_ENTRIES {
        return;
    }
    let mut ages: Vec<(Instant, K)> = table.iter().map(|(k, r)| (r.last, k.clone())).collect();
    ages.sort_by_key(|(last, _)| *last);
    for (_, key) in ages.into_iter().take(MAX_ENTRIES / 10) {
        table.remove(&key);
    }
}

#[derive(Default)]
pub struct Throttle {
    tables: Arc<Mutex<Tables>>,
}

/// A login check in progress from one source; dropping it ends it.
pub struct InFlight {
    tables: Arc<Mutex<Tables>>,
    source: Source,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut tables = lock(&self.tables);
        if let Some(n) = tables.in_flight.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                tables.in_flight.remove(&self.source);
            }
        }
    }
}

fn lock(tables: &Mutex<Tables>) -> MutexGuard<'_, Tables> {
    tables.lock().unwrap_or_else(|p| p.into_inner())
}

impl Throttle {
    /// Starts a login check from `ip`, or `None` when that source already has
    /// `MAX_CONCURRENT` in progress.
    pub fn start(&self, ip: IpAddr) -> Option<InFlight> {
        let source = Source::of(ip);
        let mut tables = lock(&self.tables);
        if tables.in_flight.len() >= MAX_ENTRIES && !tables.in_flight.contains_key(&source) {
            return None;
        }
        let n = tables.in_flight.entry(source).or_insert(0);
        if *n >= MAX_CONCURRENT {
            return None;
        }
        *n += 1;
        Some(InFlight {
            tables: self.tables.clone(),
            source,
        })
    }

    /// How long a check of `user`'s password from `ip` must wait.
    pub fn wait(&self, ip: IpAddr, user: &str) -> Duration {
        let now = Instant::now();
        let tables = lock(&self.tables);
        let source = tables
            .by_source
            .get(&Source::of(ip))
            .map_or(now, |r| r.not_before(now));
        let name = tables
            .by_user
            .get(&name_key(user))
            .map_or(now, |r| r.not_before(now));
        source.max(name).saturating_duration_since(now)
    }

    /// Records a failure; returns how long to hold back its answer.
    pub fn failed(&self, ip: IpAddr, user: &str) -> Duration {
        let now = Instant::now();
        let source = Source::of(ip);
        let name = name_key(user);
        let mut tables = lock(&self.tables);
        let tables = &mut *tables;
        make_room(&mut tables.by_source, now);
        make_room(&mut tables.by_user, now);
        if tables.by_pair.len() >= MAX_ENTRIES {
            // Pairs only let a success take back its own failures; losing some costs nothing
            // but that.
            tables.by_pair.clear();
        }
        let bump = |record: &mut Record| {
            record.failures = record.current(now).saturating_add(1);
            record.last = now;
            record.failures
        };
        let fresh = Record {
            failures: 0,
            last: now,
        };
        let by_source = bump(tables.by_source.entry(source).or_insert(fresh));
        let by_user = bump(tables.by_user.entry(name.clone()).or_insert(fresh));
        *tables.by_pair.entry((source, name)).or_insert(0) += 1;
        delay(by_source.max(by_user))
    }

    /// A correct password: what this source and user earned together is forgotten.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let source = Source::of(ip);
        let name = name_key(user);
        let mut tables = lock(&self.tables);
        let tables = &mut *tables;
        let Some(earned) = tables.by_pair.remove(&(source, name.clone())) else {
            return;
        };
        for record in [
            tables.by_source.get_mut(&source),
            tables.by_user.get_mut(&name),
        ]
        .into_iter()
        .flatten()
        {
            record.failures = record.failures.saturating_sub(earned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn each_failure_doubles_the_wait_before_the_next_check() {
        let throttle = Throttle::default();
        assert_eq!(throttle.wait(ip("192.0.2.1"), "ann"), Duration::ZERO);
        assert_eq!(throttle.failed(ip("192.0.2.1"), "ann"), FIRST_DELAY);
        assert_eq!(throttle.failed(ip("192.0.2.1"), "ann"), FIRST_DELAY * 2);
        assert_eq!(throttle.failed(ip("192.0.2.1"), "ann"), FIRST_DELAY * 4);
        let waiting = throttle.wait(ip("192.0.2.1"), "bob");
        assert!(
            waiting > FIRST_DELAY * 3 && waiting <= FIRST_DELAY * 4,
            "{waiting:?}"
        );
        for _ in 0..10 {
            throttle.failed(ip("192.0.2.1"), "ann");
        }
        assert_eq!(throttle.failed(ip("192.0.2.1"), "ann"), MAX_DELAY);
    }

    #[test]
    fn sources_are_addresses_for_ipv4_and_slash_64s_for_ipv6() {
        let throttle = Throttle::default();
        throttle.failed(ip("2001:db8:1:2::1"), "x");
        assert!(throttle.wait(ip("2001:db8:1:2:ffff::9"), "y") > Duration::ZERO);
        assert_eq!(throttle.wait(ip("2001:db8:1:3::1"), "y"), Duration::ZERO);
        throttle.failed(ip("192.0.2.1"), "z");
        assert_eq!(throttle.wait(ip("192.0.2.2"), "w"), Duration::ZERO);
        assert!(throttle.wait(ip("::ffff:192.0.2.1"), "w") > Duration::ZERO);
    }

    #[test]
    fn guessing_one_user_from_many_addresses_is_slowed_too() {
        let throttle = Throttle::default();
        for n in 1..=5 {
            throttle.failed(ip(&format!("198.51.100.{n}")), "ann");
        }
        assert!(throttle.wait(ip("203.0.113.9"), "ann") > FIRST_DELAY * 8);
        assert_eq!(throttle.wait(ip("203.0.113.9"), "bob"), Duration::ZERO);
    }

    #[test]
    fn another_clients_success_does_not_clear_an_attackers_penalty() {
        let throttle = Throttle::default();
        for _ in 0..4 {
            throttle.failed(ip("192.0.2.1"), "ann");
        }
        // Someone else behind the same address logs in to their own account.
        throttle.succeeded(ip("192.0.2.1"), "bob");
        assert!(throttle.wait(ip("192.0.2.1"), "ann") > FIRST_DELAY * 4);
        // Ann from her own address: her name's penalty stays too, until she succeeds.
        throttle.succeeded(ip("198.51.100.7"), "ann");
        assert!(throttle.wait(ip("198.51.100.7"), "ann") > Duration::ZERO);
        // The failures that source and name earned together are taken back by their success.
        throttle.succeeded(ip("192.0.2.1"), "ann");
        assert_eq!(throttle.wait(ip("192.0.2.1"), "ann"), Duration::ZERO);
    }

    #[test]
    fn concurrent_logins_per_source_are_capped() {
        let throttle = Throttle::default();
        let held: Vec<_> = (0..MAX_CONCURRENT)
            .map(|_| throttle.start(ip("192.0.2.1")).expect("under the cap"))
            .collect();
        assert!(throttle.start(ip("192.0.2.1")).is_none());
        assert!(throttle.start(ip("192.0.2.2")).is_some());
        drop(held);
        assert!(throttle.start(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn a_full_table_drops_the_longest_idle_not_everything() {
        let throttle = Throttle::default();
        throttle.failed(ip("10.0.0.1"), "first");
        for n in 0..MAX_ENTRIES as u32 + 5 {
            let a = n.to_be_bytes();
            throttle.failed(IpAddr::from([11, a[1], a[2], a[3]]), &format!("u{n}"));
        }
        let tables = lock(&throttle.tables);
        assert!(tables.by_source.len() <= MAX_ENTRIES);
        assert!(tables.by_source.len() > MAX_ENTRIES / 2, "not wiped");
        assert!(!tables.by_source.contains_key(&Source::of(ip("10.0.0.1"))));
    }
}
