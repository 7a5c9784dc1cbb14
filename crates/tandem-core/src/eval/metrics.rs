//! Span-level precision, recall and F1.

use super::{Example, LabeledSpan};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// When a predicted span counts as finding a gold span (labels must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Same start and end.
    Exact,
    /// The spans share at least one character (one-to-one).
    Overlap,
}

/// True/false positive and false negative counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Predicted spans that match a gold span.
    pub tp: usize,
    /// Predicted spans that match none.
    pub fp: usize,
    /// Gold spans no prediction matched.
    pub fn_: usize,
}

impl Counts {
    /// tp / (tp + fp); 0 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when there is no gold span.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The result of [`score`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The matching rule used.
    pub mode: MatchMode,
    /// Counts for each label both covered by the system and present in the data.
    pub per_label: BTreeMap<String, Counts>,
    /// Sum over `per_label`.
    pub micro: Counts,
    /// Gold labels the system cannot produce, with their span counts.
    pub not_covered: BTreeMap<String, usize>,
    /// Predicted labels the data set never annotates, with their counts.
    pub unscored_predictions: BTreeMap<String, usize>,
}

/// Scores `predicted[i]` against `gold[i]`.
///
/// `covered` lists the labels the system can produce; gold spans of other
/// labels go to [`Report::not_covered`].
pub fn score(gold: &[Example], predicted: &[Vec<LabeledSpan>], covered: &BTreeSet<String>, mode: MatchMode) -> Report {
    let gold_labels: BTreeSet<&str> = gold
        .iter()
        .flat_map(|e| e.spans.iter().map(|s| s.label.as_str()))
        .collect();
    let scored: BTreeSet<&str> = gold_labels.iter().copied().filter(|l| covered.contains(*l)).collect();
    let mut report = Report {
        mode,
        per_label: scored.iter().map(|l| ((*l).to_owned(), Counts::default())).collect(),
        micro: Counts::default(),
        not_covered: BTreeMap::new(),
        unscored_predictions: BTreeMap::new(),
    };
    let empty = Vec::new();
    for (i, example) in gold.iter().enumerate() {
        let preds = predicted.get(i).unwrap_or(&empty);
        for s in &example.spans {
            if !scored.contains(s.label.as_str()) {
                *report.not_covered.entry(s.label.clone()).or_default() += 1;
            }
        }
        for p in preds {
            if !gold_labels.contains(p.label.as_str()) {
                *report.unscored_predictions.entry(p.label.clone()).or_default() += 1;
            }
        }
        for label in &scored {
            let g: Vec<&LabeledSpan> = example.spans.iter().filter(|s| s.label == *label).collect();
            let p: Vec<&LabeledSpan> = preds.iter().filter(|s| s.label == *label).collect();
            let counts = match_spans(&g, &p, mode);
            if let Some(c) = report.per_label.get_mut(*label) {
                c.add(counts);
            }
            report.micro.add(counts);
        }
    }
    report
}

fn match_spans(gold: &[&LabeledSpan], pred: &[&LabeledSpan], mode: MatchMode) -> Counts {
    let mut used = vec![false; pred.len()];
    let mut tp = 0;
    for g in gold {
        let hit = pred.iter().enumerate().position(|(j, p)| {
            !used[j]
                && match mode {
                    MatchMode::Exact => p.start == g.start && p.end == g.end,
                    MatchMode::Overlap => p.start < g.end && g.start < p.end,
                }
        });
        if let Some(j) = hit {
            used[j] = true;
            tp += 1;
        }
    }
    Counts {
        tp,
        fp: pred.len() - tp,
        fn_: gold.len() - tp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(label: &str, start: usize, end: usize) -> LabeledSpan {
        LabeledSpan {
            label: label.into(),
            start,
            end,
        }
    }

    #[test]
    fn exact_and_overlap_counts() {
        let gold = vec![Example {
            text: "x".repeat(40),
            spans: vec![
                span("EMAIL_ADDRESS", 0, 10),
                span("PHONE_NUMBER", 12, 20),
                span("PERSON", 25, 30),
            ],
        }];
        let preds = vec![vec![
            span("EMAIL_ADDRESS", 0, 10),
            span("PHONE_NUMBER", 13, 20),
            span("SECRET", 32, 36),
        ]];
        let covered: BTreeSet<String> = ["EMAIL_ADDRESS", "PHONE_NUMBER", "SECRET"].map(String::from).into();
        let exact = score(&gold, &preds, &covered, MatchMode::Exact);
        assert_eq!(exact.micro, Counts { tp: 1, fp: 1, fn_: 1 });
        assert_eq!(exact.micro.f1(), 0.5);
        assert_eq!(exact.not_covered["PERSON"], 1);
        assert_eq!(exact.unscored_predictions["SECRET"], 1);
        let overlap = score(&gold, &preds, &covered, MatchMode::Overlap);
        assert_eq!(overlap.micro, Counts { tp: 2, fp: 0, fn_: 0 });
        assert_eq!(overlap.per_label["PHONE_NUMBER"].recall(), 1.0);
    }

    #[test]
    fn one_prediction_matches_one_gold_span() {
        let gold = vec![Example {
            text: String::new(),
            spans: vec![span("URL", 0, 5), span("URL", 5, 9)],
        }];
        let preds = vec![vec![span("URL", 0, 9)]];
        let covered: BTreeSet<String> = ["URL".to_owned()].into();
        assert_eq!(
            score(&gold, &preds, &covered, MatchMode::Overlap).micro,
            Counts { tp: 1, fp: 0, fn_: 1 }
        );
    }
}
