//! Scoring a router on queries whose weak-model and strong-model
//! correctness is known (RouteLLM's metrics).
//!
//! * **AUC** of `p_local` for "the weak model suffices": it was right, or
//!   the strong model was wrong too (sending the query to the cloud would
//!   have bought nothing). This is the label the router is trained on.
//! * **PGR(c)**, the performance gap recovered when the fraction `c` of the
//!   queries the router trusts least go to the strong model:
//!   `(perf(c) − perf_weak) / (perf_strong − perf_weak)`.
//! * **APGR**: the mean PGR over every cut `c = 0, 1/n, …, 1` (0.5 for a
//!   random router, in expectation).
//! * **CPT(x)**: the smallest share of strong-model calls with PGR ≥ x
//!   (`x` for a random router, in expectation).
//! * The **PGR curve** itself, sampled at every 5 % of strong-model calls,
//!   for plots (the diagonal for a random router, in expectation).

use serde::Serialize;

/// One evaluated query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutedQuery {
    /// The router's score: higher = more likely the weak model suffices.
    pub p_local: f64,
    /// Whether the weak (local) model answered correctly.
    pub weak_correct: bool,
    /// Whether the strong (cloud) model answered correctly.
    pub strong_correct: bool,
}

impl RoutedQuery {
    /// The weak model loses nothing against the strong one on this query.
    pub fn weak_suffices(&self) -> bool {
        self.weak_correct || !self.strong_correct
    }
}

/// A router's scores on a set of queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterReport {
    /// Queries scored.
    pub n: usize,
    /// Accuracy with every query on the weak model.
    pub weak_accuracy: f64,
    /// Accuracy with every query on the strong model.
    pub strong_accuracy: f64,
    /// Area under the ROC curve for "the weak model suffices".
    pub auc: f64,
    /// Average performance gap recovered.
    pub apgr: f64,
    /// Share of strong-model calls needed for PGR ≥ 0.5.
    pub cpt50: f64,
    /// Share of strong-model calls needed for PGR ≥ 0.8.
    pub cpt80: f64,
    /// `(share of strong-model calls, PGR)` at 0, 5 %, …, 100 % of the calls:
    /// the curve whose mean is (close to) APGR.
    pub pgr_curve: Vec<(f64, f64)>,
}

/// Points on the PGR curve: 0, 5 %, …, 100 % of the queries sent to the
/// strong model.
const CURVE_POINTS: usize = 21;

/// Scores `queries`; `None` when there are none, or when both models score
/// the same (no gap to recover) or all weak answers agree (no AUC).
pub fn evaluate(queries: &[RoutedQuery]) -> Option<RouterReport> {
    let n = queries.len();
    if n == 0 {
        return None;
    }
    let weak = queries.iter().filter(|q| q.weak_correct).count();
    let strong = queries.iter().filter(|q| q.strong_correct).count();
    if weak == strong {
        return None;
    }
    let auc = auc(
        &queries.iter().map(|q| q.p_local).collect::<Vec<_>>(),
        &queries.iter().map(RoutedQuery::weak_suffices).collect::<Vec<_>>(),
    )?;
    // Least trusted first: these go to the strong model first. Ties keep input order.
    let mut order: Vec<&RoutedQuery> = queries.iter().collect();
    order.sort_by(|a, b| a.p_local.total_cmp(&b.p_local));
    let gap = strong as f64 - weak as f64;
    let mut correct = weak as f64;
    let mut pgr = Vec::with_capacity(n + 1);
    pgr.push(0.0);
    for q in order {
        correct += f64::from(u8::from(q.strong_correct)) - f64::from(u8::from(q.weak_correct));
        pgr.push((correct - weak as f64) / gap);
    }
    let cpt = |x: f64| pgr.iter().position(|&p| p >= x).map_or(1.0, |k| k as f64 / n as f64);
    Some(RouterReport {
        n,
        weak_accuracy: weak as f64 / n as f64,
        strong_accuracy: strong as f64 / n as f64,
        auc,
        apgr: pgr.iter().sum::<f64>() / pgr.len() as f64,
        cpt50: cpt(0.5),
        cpt80: cpt(0.8),
        pgr_curve: (0..CURVE_POINTS)
            .map(|i| {
                let share = i as f64 / (CURVE_POINTS - 1) as f64;
                // The cut nearest this share; `pgr` has n + 1 cuts.
                let k = (share * n as f64).round() as usize;
                (share, pgr[k.min(n)])
            })
            .collect(),
    })
}

/// Area under the ROC curve of `scores` for `labels` (ties count half);
/// `None` when one class is missing.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && scores[idx[j]] == scores[idx[i]] {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * idx[i..j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: f64, weak: bool, strong: bool) -> RoutedQuery {
        RoutedQuery {
            p_local: p,
            weak_correct: weak,
            strong_correct: strong,
        }
    }

    #[test]
    fn a_perfect_router_recovers_the_gap_with_the_fewest_calls() {
        // Two queries only the strong model gets right, two both get right.
        let qs = [
            q(0.1, false, true),
            q(0.2, false, true),
            q(0.8, true, true),
            q(0.9, true, true),
        ];
        let r = evaluate(&qs).unwrap();
        assert_eq!(r.auc, 1.0);
        assert_eq!((r.weak_accuracy, r.strong_accuracy), (0.5, 1.0));
        assert_eq!(r.cpt50, 0.25);
        assert_eq!(r.cpt80, 0.5);
        // PGR at 0..4 calls: 0, .5, 1, 1, 1
        assert!((r.apgr - 3.5 / 5.0).abs() < 1e-12);
        // Sampled every 5 %: 0 % and 5 % round to no call, 25 % to one, 50 % on to full.
        assert_eq!(r.pgr_curve.len(), 21);
        assert_eq!(r.pgr_curve[0], (0.0, 0.0));
        assert_eq!(r.pgr_curve[5], (0.25, 0.5));
        assert!(r.pgr_curve[10..].iter().all(|&(_, p)| p == 1.0));
        assert_eq!(r.pgr_curve[20].0, 1.0);
    }

    #[test]
    fn an_inverted_router_is_worst() {
        let qs = [
            q(0.9, false, true),
            q(0.8, false, true),
            q(0.2, true, true),
            q(0.1, true, true),
        ];
        let r = evaluate(&qs).unwrap();
        assert_eq!(r.auc, 0.0);
        assert_eq!(r.cpt50, 0.75);
        assert!((r.apgr - 1.5 / 5.0).abs() < 1e-12);
        // Below the diagonal until the last cut (85 % rounds to 3 of 4 calls).
        assert!(r.pgr_curve[1..18].iter().all(|&(c, p)| p < c));
        assert_eq!(r.pgr_curve[20], (1.0, 1.0));
    }

    #[test]
    fn a_query_both_models_fail_counts_as_weak_suffices() {
        // Routing the both-wrong query to the cloud recovers nothing, so a
        // router that keeps it local is perfect.
        let qs = [q(0.9, false, false), q(0.1, false, true), q(0.5, true, true)];
        let r = evaluate(&qs).unwrap();
        assert_eq!(r.auc, 1.0);
        assert_eq!(r.cpt80, 1.0 / 3.0);
    }

    #[test]
    fn ties_count_half_in_auc() {
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(auc(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true]), Some(0.875));
        assert_eq!(auc(&[0.1], &[true]), None);
    }

    #[test]
    fn no_gap_no_report() {
        assert!(evaluate(&[q(0.5, true, true), q(0.1, false, false)]).is_none());
        assert!(evaluate(&[]).is_none());
    }
}
