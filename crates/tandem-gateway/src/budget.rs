//! Per-client token budgets: what each client has left to spend upstream,
//! refilled continuously, charged with the usage the upstream reports.
//!
//! A request is refused while its client's balance is below one token. The
//! charge comes after the answer (a request's cost is known only then), so
//! a balance can go negative: the debt is paid back by the refill before
//! the client is served again. State lives in the gateway instance, like the
//! rate limiter.

use crate::config::TokenBudget;
use crate::rate::Bucket;
use std::collections::HashMap;

/// Token balances by client name.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    balances: HashMap<String, Bucket>,
}

impl Budgets {
    /// `client`'s balance refilled to `now_ms`, and its refill rate per ms.
    fn refilled(&mut self, client: &str, budget: TokenBudget, now_ms: f64) -> (&mut Bucket, f64) {
        let full = budget.tokens as f64;
        let per_ms = full / (budget.per_seconds as f64 * 1000.0);
        let balance = self
            .balances
            .entry(client.to_owned())
            .or_insert_with(|| Bucket::full(full, now_ms));
        balance.refill(full, per_ms, now_ms);
        (balance, per_ms)
    }

    /// Whether `client` may start a request now; otherwise the seconds
    /// until its balance is back to one token.
    pub(crate) fn check(&mut self, client: &str, budget: TokenBudget, now_ms: f64) -> Result<(), u64> {
        let (balance, per_ms) = self.refilled(client, budget, now_ms);
        if balance.level() >= 1.0 {
            Ok(())
        } else {
            Err(balance.seconds_to_one(per_ms))
        }
    }

    /// Takes `tokens` from `client`'s balance.
    pub(crate) fn charge(&mut self, client: &str, budget: TokenBudget, tokens: u64, now_ms: f64) {
        self.refilled(client, budget, now_ms).0.take(tokens as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_refused_once_spent_and_served_again_after_the_refill() {
        let budget = TokenBudget {
            tokens: 1000,
            per_seconds: 100,
        };
        let mut b = Budgets::default();
        assert_eq!(b.check("a", budget, 0.0), Ok(()));
        b.charge("a", budget, 1500, 0.0);
        // 500 in debt at 10 tokens/s: 51 s until the balance is 1 again.
        assert_eq!(b.check("a", budget, 0.0), Err(51));
        assert_eq!(b.check("b", budget, 0.0), Ok(()), "clients are separate");
        assert_eq!(b.check("a", budget, 50_000.0), Err(1));
        assert_eq!(b.check("a", budget, 50_100.0), Ok(()));
        // The balance never saves up more than one period's tokens.
        b.charge("a", budget, 999, 1e9);
        assert_eq!(b.check("a", budget, 1e9), Ok(()));
        b.charge("a", budget, 1, 1e9);
        assert!(b.check("a", budget, 1e9).is_err());
    }
}
