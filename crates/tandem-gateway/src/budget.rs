//! Per-client token budgets: what each client has left to spend upstream,
//! refilled continuously, charged with the usage the upstream reports.
//!
//! A request is refused while its client's balance is below one token. The
//! charge comes after the answer (a request's cost is known only then), so
//! a balance can go negative: the debt is paid back by the refill before
//! the client is served again. State lives in the gateway instance, like the
//! rate limiter.

use crate::config::TokenBudget;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
struct Balance {
    tokens: f64,
    last_ms: f64,
}

/// Token balances by client name.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    balances: HashMap<String, Balance>,
}

impl Budgets {
    fn refilled(&mut self, client: &str, budget: TokenBudget, now_ms: f64) -> &mut Balance {
        let full = budget.tokens as f64;
        let per_ms = full / (budget.per_seconds as f64 * 1000.0);
        let balance = self.balances.entry(client.to_owned()).or_insert(Balance {
            tokens: full,
            last_ms: now_ms,
        });
        let elapsed = (now_ms - balance.last_ms).max(0.0);
        balance.tokens = (balance.tokens + elapsed * per_ms).min(full);
        balance.last_ms = now_ms;
        balance
    }

    /// Whether `client` may start a request now; otherwise the seconds
    /// until its balance is back to one token.
    pub(crate) fn check(&mut self, client: &str, budget: TokenBudget, now_ms: f64) -> Result<(), u64> {
        let per_s = budget.tokens as f64 / budget.per_seconds as f64;
        let balance = self.refilled(client, budget, now_ms);
        if balance.tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - balance.tokens) / per_s).ceil().max(1.0) as u64)
        }
    }

    /// Takes `tokens` from `client`'s balance.
    pub(crate) fn charge(&mut self, client: &str, budget: TokenBudget, tokens: u64, now_ms: f64) {
        self.refilled(client, budget, now_ms).tokens -= tokens as f64;
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
