//! A free drafter: prompt lookup (n-gram matching, as in Saxena's "prompt
//! lookup decoding" and llama.cpp's `lookup`). When the tokens just written
//! also appear earlier in the conversation, what followed them there is a
//! likely continuation. Code edits, quotations and summaries repeat long
//! runs of their input, and such a proposal costs no model step at all.

/// Longest suffix of the context that is searched for.
pub const MAX_NGRAM: usize = 4;
/// Shortest suffix that counts as a match (a single token matches too often).
pub const MIN_NGRAM: usize = 2;

/// Up to `max_tokens` tokens that followed the most recent earlier
/// occurrence of the context's last `n` tokens, for the longest `n` from
/// [`MAX_NGRAM`] down to [`MIN_NGRAM`] that occurs; empty when none does.
pub fn propose(context: &[u32], max_tokens: usize) -> Vec<u32> {
    let len = context.len();
    for n in (MIN_NGRAM..=MAX_NGRAM.min(len.saturating_sub(1))).rev() {
        let tail = &context[len - n..];
        // Latest start first: recent text predicts best. A match must leave
        // at least one token after it before the tail begins.
        let found = (0..len - n).rev().find(|&i| &context[i..i + n] == tail);
        if let Some(i) = found {
            let from = i + n;
            return context[from..(from + max_tokens).min(len)].to_vec();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_run_is_proposed_from_its_latest_occurrence() {
        //            0  1  2  3  4  5  6  7  8  9
        let context = [5, 6, 7, 8, 1, 5, 6, 7, 9, 2, 5, 6, 7];
        // The tail 5 6 7 occurred at 5 (followed by 9 2) and at 0 (followed by 8 1).
        assert_eq!(propose(&context, 3), vec![9, 2, 5]);
        assert_eq!(propose(&context, 1), vec![9]);
    }

    #[test]
    fn the_longest_matching_suffix_wins() {
        // 3 4 occurs twice; only one occurrence of 2 3 4.
        let context = [2, 3, 4, 10, 11, 3, 4, 12, 2, 3, 4];
        assert_eq!(propose(&context, 2), vec![10, 11]);
    }

    #[test]
    fn nothing_to_propose() {
        assert!(propose(&[], 4).is_empty());
        assert!(propose(&[1], 4).is_empty());
        assert!(propose(&[1, 2, 3, 4], 4).is_empty(), "no repeated n-gram");
        assert!(propose(&[1, 2, 1, 2], 0).is_empty());
        // A single repeated token is not a match.
        assert!(propose(&[7, 1, 2, 7], 4).is_empty());
    }
}
