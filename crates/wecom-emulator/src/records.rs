//! What the emulator keeps of what it received: a bounded window of the newest records of each
//! kind, and a count of them all.
//!
//! An emulator left running for days (`wecom emulator`, a soak, a long benchmark) must not grow
//! with every request: kept whole, 270,000 sends cost about 570 MB. Tests look at the last few
//! records and at counts, so the window is the newest `max_records` (EmulatorConfig) and the
//! counts cover everything since the start or the last `clear`.

use std::collections::VecDeque;

/// How many records of each kind an emulator keeps unless configured otherwise.
pub const DEFAULT_MAX_RECORDS: usize = 5000;

/// The newest records of one kind, oldest first, and how many were ever recorded.
#[derive(Debug)]
pub(crate) struct Records<T> {
    items: VecDeque<T>,
    total: u64,
}

impl<T> Default for Records<T> {
    fn default() -> Self {
        Records {
            items: VecDeque::new(),
            total: 0,
        }
    }
}

impl<T> Records<T> {
    /// Keeps `item`, counting it, and forgets the oldest records beyond `limit` (0: keeps none).
    /// Returns what was forgotten, for stores that index records elsewhere.
    pub fn push(&mut self, item: T, limit: usize) -> Vec<T> {
        self.total += 1;
        self.items.push_back(item);
        let excess = self.items.len().saturating_sub(limit);
        self.items.drain(..excess).collect()
    }

    /// How many records were ever pushed (also those no longer kept).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The total, and the kept records numbered `seen` and later (records are numbered from 0
    /// at the start or the last clear): what arrived since a reader saw `seen` of them. A `seen`
    /// above the total (a clear since) gets every kept record.
    pub fn since(&self, seen: u64) -> (u64, Vec<T>)
    where
        T: Clone,
    {
        let seen = if seen > self.total { 0 } else { seen };
        let first_kept = self.total - self.items.len() as u64;
        let skip = seen.saturating_sub(first_kept) as usize;
        (self.total, self.items.iter().skip(skip).cloned().collect())
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.iter()
    }

    pub fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.items.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_up_to_the_limit_and_counts_all() {
        let mut records = Records::default();
        for i in 0..5 {
            let forgotten = records.push(i, 3);
            assert_eq!(forgotten, if i < 3 { vec![] } else { vec![i - 3] });
        }
        assert_eq!(records.to_vec(), vec![2, 3, 4]);
        assert_eq!(records.total(), 5);
    }

    #[test]
    fn since_gives_what_a_reader_has_not_seen_of_what_is_kept() {
        let mut records = Records::default();
        for i in 0..5 {
            records.push(i, 3);
        }
        assert_eq!(records.since(4), (5, vec![4]));
        assert_eq!(records.since(5), (5, vec![]));
        // Seen 1 of them: 1 is forgotten, so what is kept of the rest.
        assert_eq!(records.since(1), (5, vec![2, 3, 4]));
        // After a clear the reader's count is above the total: everything kept is new.
        let mut cleared = Records::default();
        cleared.push(9, 3);
        assert_eq!(cleared.since(5), (1, vec![9]));
    }

    #[test]
    fn a_limit_of_zero_only_counts() {
        let mut records = Records::default();
        assert_eq!(records.push("a", 0), vec!["a"]);
        assert_eq!(records.to_vec(), Vec::<&str>::new());
        assert_eq!(records.total(), 1);
    }
}
