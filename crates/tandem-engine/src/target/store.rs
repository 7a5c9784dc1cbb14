//! The target's cache entries under one memory budget: sessions by id,
//! prefixes for prompt queries, least recently used evicted first.
//!
//! Every byte an entry holds counts: its KV cache, its tokens, its
//! per-position log-probability records and its last logits (`tail`, a whole
//! vocabulary row). The total is kept as entries come and go, and the
//! recency order is a sorted map, so a request costs a lookup and not a scan
//! of every entry; only prefix matching scans, over at most [`MAX_PREFIXES`].

use super::MAX_TOP_LOGPROBS;
use super::PositionLogprobs;
use std::collections::{BTreeMap, HashMap};
use tandem_models::KvCache;

/// Prefix entries kept at most (prompt queries match against each).
pub(crate) const MAX_PREFIXES: usize = 32;

/// Names an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A `/v1/verify` session.
    Session(String),
    /// A prompt prefix, by number.
    Prefix(u64),
}

/// One cached sequence.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: Key,
    pub(crate) tokens: Vec<u32>,
    pub(crate) cache: KvCache,
    /// For prefix entries: the record of each position `1..tokens.len()`.
    pub(crate) records: Vec<PositionLogprobs>,
    /// For prefix entries: the logits after the last token, so that a prompt
    /// extending this one (the next decoding step) runs only its new tokens.
    pub(crate) tail: Option<Vec<f32>>,
    /// Recency tick when stored.
    used: u64,
    /// Bytes counted when stored.
    bytes: usize,
}

impl Entry {
    /// An empty entry named `key`.
    pub(crate) fn new(key: Key, cache: KvCache) -> Self {
        Self {
            key,
            tokens: Vec::new(),
            cache,
            records: Vec::new(),
            tail: None,
            used: 0,
            bytes: 0,
        }
    }

    /// Everything the entry holds, with KV positions at `per_token` bytes.
    fn held(&self, per_token: usize) -> usize {
        let record = size_of::<PositionLogprobs>() + MAX_TOP_LOGPROBS * size_of::<(u32, f32)>();
        self.cache.len() * per_token
            + self.tokens.len() * size_of::<u32>()
            + self.records.len() * record
            + self.tail.as_ref().map_or(0, |t| t.len() * size_of::<f32>())
    }
}

/// The entries, their total size and their recency order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    sessions: HashMap<String, Entry>,
    prefixes: HashMap<u64, Entry>,
    /// Recency tick → key, oldest first.
    order: BTreeMap<u64, Key>,
    held: usize,
    tick: u64,
    next_prefix: u64,
}

impl Store {
    /// Bytes held by all entries.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len() + self.prefixes.len()
    }

    /// A fresh prefix key.
    pub(crate) fn prefix_key(&mut self) -> Key {
        self.next_prefix += 1;
        Key::Prefix(self.next_prefix)
    }

    /// Takes session `id` out of the store.
    pub(crate) fn take_session(&mut self, id: &str) -> Option<Entry> {
        let entry = self.sessions.remove(id)?;
        Some(self.forget(entry))
    }

    /// The session of `scope` (see [`scope_of`]) whose cached positions
    /// share the longest prefix with `tokens`, the most recent among equals,
    /// and that length: what a new session of the scope may start from.
    pub(crate) fn best_session_prefix(&self, scope: &str, tokens: &[u32]) -> Option<(&Entry, usize)> {
        self.sessions
            .iter()
            .filter(|(id, _)| scope_of(id) == scope)
            .map(|(_, e)| (e, common_prefix(&e.tokens, tokens).min(e.cache.len())))
            .filter(|&(_, n)| n > 0)
            .max_by_key(|&(e, n)| (n, e.used))
    }

    /// Takes out the prefix entry sharing the longest prefix with `prompt`
    /// (at least one token; the most recent among equals).
    pub(crate) fn take_best_prefix(&mut self, prompt: &[u32]) -> Option<Entry> {
        let (id, _) = self
            .prefixes
            .iter()
            .map(|(&id, e)| (id, (common_prefix(&e.tokens, prompt), e.used)))
            .filter(|(_, (n, _))| *n > 0)
            .max_by_key(|&(_, rank)| rank)?;
        let entry = self.prefixes.remove(&id)?;
        Some(self.forget(entry))
    }

    fn forget(&mut self, entry: Entry) -> Entry {
        self.order.remove(&entry.used);
        self.held -= entry.bytes;
        entry
    }

    /// Stores `entry` as the most recent, then evicts the least recently used
    /// others while over `budget` or over [`MAX_PREFIXES`] prefixes.
    pub(crate) fn put(&mut self, mut entry: Entry, per_token: usize, budget: usize) {
        self.tick += 1;
        entry.used = self.tick;
        entry.bytes = entry.held(per_token);
        self.held += entry.bytes;
        self.order.insert(entry.used, entry.key.clone());
        match entry.key.clone() {
            Key::Session(id) => {
                self.sessions.insert(id, entry);
            }
            Key::Prefix(id) => {
                self.prefixes.insert(id, entry);
            }
        }
        while (self.held > budget || self.prefixes.len() > MAX_PREFIXES) && self.len() > 1 {
            let over_prefixes = self.prefixes.len() > MAX_PREFIXES;
            let oldest = self
                .order
                .iter()
                .find(|(_, k)| !over_prefixes || matches!(k, Key::Prefix(_)))
                .map(|(&t, k)| (t, k.clone()));
            let Some((_, key)) = oldest else { break };
            let evicted = match key {
                Key::Session(id) => self.sessions.remove(&id),
                Key::Prefix(id) => self.prefixes.remove(&id),
            };
            if let Some(e) = evicted {
                self.forget(e);
            }
        }
    }
}

/// Length of the common prefix of `a` and `b`.
pub(crate) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A session's scope: its id up to the first U+001F (the gateway puts the
/// client's name there), or empty. Sessions share cached prompts only
/// within a scope, so that one client's cache timing reveals nothing about
/// another's prompts.
pub(crate) fn scope_of(session: &str) -> &str {
    session.split_once('\u{1f}').map_or("", |(scope, _)| scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(store: &mut Store, tokens: &[u32], tail: usize) -> Entry {
        let key = store.prefix_key();
        let mut e = Entry::new(key, KvCache::new(1));
        e.tokens = tokens.to_vec();
        e.tail = (tail > 0).then(|| vec![0.0; tail]);
        e
    }

    #[test]
    fn last_logits_and_tokens_count_against_the_budget() {
        let mut s = Store::default();
        // Each entry: a 1,000-logit tail (4,000 bytes) and 10 tokens (40 bytes).
        for i in 0..3 {
            let e = prefix(&mut s, &[i; 10], 1000);
            s.put(e, 0, 10_000);
        }
        assert_eq!(s.len(), 2, "the oldest was evicted: three would hold 12,120 bytes");
        assert_eq!(s.held(), 8080);
        assert!(s.take_best_prefix(&[0; 10]).is_none(), "entry 0 is gone");
        let best = s.take_best_prefix(&[2, 2, 2, 9]).unwrap();
        assert_eq!(best.tokens, [2; 10]);
        assert_eq!(s.held(), 4040, "taking an entry out releases its bytes");
    }

    #[test]
    fn prefixes_are_capped_and_sessions_outlive_them() {
        let mut s = Store::default();
        let mut session = Entry::new(Key::Session("s".into()), KvCache::new(1));
        session.tokens = vec![1, 2, 3];
        s.put(session, 0, usize::MAX);
        for i in 0..40 {
            let e = prefix(&mut s, &[i, i + 1], 0);
            s.put(e, 0, usize::MAX);
        }
        assert_eq!(s.len(), MAX_PREFIXES + 1);
        assert_eq!(
            s.take_session("s").unwrap().tokens,
            [1, 2, 3],
            "the older session stays"
        );
        assert!(s.take_best_prefix(&[0, 1]).is_none(), "the oldest prefixes went first");
        assert!(s.take_best_prefix(&[39, 40]).is_some());
    }
}
