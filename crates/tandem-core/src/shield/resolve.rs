//! Overlap resolution: one entity per character.

use super::Span;
use std::collections::BTreeMap;

/// Keeps the best of overlapping spans and returns them sorted by start.
///
/// Spans are taken in order of score, then length (a card number beats the
/// phone number that matches its last ten digits), then position; a span is
/// kept when it overlaps no span kept before it. O(n log n).
pub(crate) fn resolve(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.range.len().cmp(&a.range.len()))
            .then_with(|| a.range.start.cmp(&b.range.start))
    });
    // Kept spans by start -> end; they never overlap each other.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        let (start, end) = (span.range.start, span.range.end);
        if start >= end {
            continue;
        }
        let hits_left = kept.range(..=start).next_back().is_some_and(|(_, &e)| e > start);
        let hits_right = kept.range(start..end).next().is_some();
        if !hits_left && !hits_right {
            kept.insert(start, end);
            out.push(span);
        }
    }
    out.sort_by_key(|s| s.range.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_protocol::EntityKind::{CreditCard, PhoneNumber, Url};

    #[test]
    fn higher_score_then_longer_wins() {
        let spans = vec![
            Span::new(PhoneNumber, 6..16, 0.6, "p"),
            Span::new(CreditCard, 0..16, 0.9, "c"),
            Span::new(Url, 20..30, 0.5, "u"),
            Span::new(Url, 18..32, 0.5, "u"),
        ];
        let kept = resolve(spans);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].kind, CreditCard);
        assert_eq!(kept[1].range, 18..32);
    }

    #[test]
    fn touching_spans_both_stay() {
        let kept = resolve(vec![Span::new(Url, 0..5, 0.5, "u"), Span::new(Url, 5..9, 0.5, "u")]);
        assert_eq!(kept.len(), 2);
    }
}
