//! A free drafter: prompt lookup (n-gram matching, as in Saxena's "prompt
//! lookup decoding" and llama.cpp's `lookup`). When the tokens just written
//! also appear earlier in the conversation, what followed them there is a
//! likely continuation. Code edits, quotations and summaries repeat long
//! runs of their input, and such a proposal costs no model step at all.
//!
//! How long the match is says how far to trust it: after two matching
//! tokens the next one follows about half the time, after eight or more an
//! edit is usually copying a whole passage. So a proposal carries its
//! [`Match`] class, and the cost model keeps lookup's acceptance per class
//! (see `DraftLength::lookup_length`).

/// Longest suffix of the context that is matched: longer matches all count
/// as [`Match::Long`].
pub const MAX_NGRAM: usize = 16;
/// Shortest suffix that counts as a match (a single token matches too often).
pub const MIN_NGRAM: usize = 2;
/// The longest lookup draft an adaptive client sends after a
/// [`Match::Long`], beyond its model's longest draft: a long match copies
/// on for many tokens, and the cost model prices each length at the class's
/// acceptance. Shorter matches stay within the model's longest draft.
pub const MAX_PROPOSAL: usize = 16;

/// How many tokens before the proposal matched the context's end: the
/// class whose acceptance prices the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Two or three tokens.
    Short,
    /// Four to seven.
    Medium,
    /// Eight or more: usually a passage being copied.
    Long,
}

impl Match {
    /// Every class, shortest matches first (as [`Match::index`] numbers them).
    pub const ALL: [Match; 3] = [Match::Short, Match::Medium, Match::Long];

    /// The class of a match of `n` tokens.
    pub fn of(n: usize) -> Self {
        match n {
            0..=3 => Self::Short,
            4..=7 => Self::Medium,
            _ => Self::Long,
        }
    }

    /// The class's place in per-class tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What prompt lookup proposes: the tokens, and how well the context
/// matched where they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The tokens that followed the match, at most the length asked for.
    pub tokens: Vec<u32>,
    /// How many tokens matched the context's end (up to [`MAX_NGRAM`]).
    pub matched: usize,
}

impl Proposal {
    /// The match's class.
    pub fn class(&self) -> Match {
        Match::of(self.matched)
    }
}

/// Up to `max_tokens` tokens that followed the earlier occurrence of the
/// context's end that matches it longest (up to [`MAX_NGRAM`] tokens, at
/// least [`MIN_NGRAM`]; the most recent of equally long ones), or `None`.
pub fn propose(context: &[u32], max_tokens: usize) -> Option<Proposal> {
    let len = context.len();
    if max_tokens == 0 || len < MIN_NGRAM + 1 {
        return None;
    }
    let tail = &context[len - MIN_NGRAM..];
    let mut best: Option<(usize, usize)> = None;
    // Latest start first: recent text predicts best. A match must leave at
    // least one token after it (it may overlap the tail).
    for i in (0..len - MIN_NGRAM).rev() {
        if context[i..i + MIN_NGRAM] != *tail {
            continue;
        }
        // Extend the match backwards from `i`, against the tokens before the tail.
        let mut n = MIN_NGRAM;
        while n < MAX_NGRAM && n < i + MIN_NGRAM && context[i + MIN_NGRAM - n - 1] == context[len - n - 1] {
            n += 1;
        }
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((i + MIN_NGRAM, n));
            if n == MAX_NGRAM {
                break;
            }
        }
    }
    let (from, matched) = best?;
    Some(Proposal {
        tokens: context[from..(from + max_tokens).min(len)].to_vec(),
        matched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(context: &[u32], max: usize) -> Vec<u32> {
        propose(context, max).map(|p| p.tokens).unwrap_or_default()
    }

    #[test]
    fn a_repeated_run_is_proposed_from_its_latest_occurrence() {
        //            0  1  2  3  4  5  6  7  8  9
        let context = [5, 6, 7, 8, 1, 5, 6, 7, 9, 2, 5, 6, 7];
        // The tail 5 6 7 occurred at 5 (followed by 9 2) and at 0 (followed by 8 1).
        assert_eq!(tokens(&context, 3), vec![9, 2, 5]);
        assert_eq!(tokens(&context, 1), vec![9]);
        assert_eq!(propose(&context, 3).unwrap().matched, 3);
    }

    #[test]
    fn the_longest_matching_suffix_wins() {
        // 3 4 occurs twice; only one occurrence of 2 3 4.
        let context = [2, 3, 4, 10, 11, 3, 4, 12, 2, 3, 4];
        assert_eq!(tokens(&context, 2), vec![10, 11]);
        // A recent four-token match (followed by 7) loses to an older twelve-token one.
        let passage: Vec<u32> = (20..32).collect();
        let mut context = passage.clone();
        context.extend([50, 28, 29, 30, 31, 7]);
        context.extend(&passage);
        let p = propose(&context, 3).unwrap();
        assert_eq!((p.class(), p.tokens, p.matched), (Match::Long, vec![50, 28, 29], 12));
    }

    #[test]
    fn matches_are_classed_by_length() {
        assert_eq!(Match::of(2), Match::Short);
        assert_eq!(Match::of(3), Match::Short);
        assert_eq!(Match::of(4), Match::Medium);
        assert_eq!(Match::of(7), Match::Medium);
        assert_eq!(Match::of(8), Match::Long);
        // A match is capped at MAX_NGRAM: a long repeated run does not scan further.
        let run: Vec<u32> = (0..40).map(|i| i % 3).collect();
        assert_eq!(propose(&run, 2).unwrap().matched, MAX_NGRAM);
    }

    #[test]
    fn nothing_to_propose() {
        assert!(propose(&[], 4).is_none());
        assert!(propose(&[1], 4).is_none());
        assert!(propose(&[1, 2, 3, 4], 4).is_none(), "no repeated n-gram");
        assert!(propose(&[1, 2, 1, 2], 0).is_none());
        // A single repeated token is not a match.
        assert!(propose(&[7, 1, 2, 7], 4).is_none());
    }
}
