//! The router's policy: local model or cloud, per query, with the reason.
//!
//! The routing head gives a calibrated probability that the small local
//! model answers as well as the cloud would ([`Signals::p_local`]). The
//! policy turns it into a [`Decision`] under a cost/quality setting and
//! rules that override it, checked in this order:
//!
//! 1. no local model loaded → cloud; offline (or no cloud configured) → local;
//! 2. the user's setting (always local / always cloud);
//! 3. a conversation that was kept local for its personal data stays local: a cloud request
//!    carries the earlier messages too;
//! 4. PII-dense text stays local (even redacted, its shape leaks);
//! 5. after a cloud answer the conversation stays in the cloud unless `p_local` clears the
//!    threshold by [`RouterPolicy::switch_margin`]: the cloud saw the whole conversation, the
//!    local model sees only its last turn;
//! 6. otherwise local when `p_local ≥ min_local_probability`.
//!
//! ```
//! use tandem_core::router::{Route, RouterPolicy, Signals};
//!
//! let policy = RouterPolicy::default();
//! let d = policy.decide(&Signals { p_local: 0.9, ..Signals::default() });
//! assert_eq!(d.route, Route::Local);
//! let d = policy.decide(&Signals { p_local: 0.2, ..Signals::default() });
//! assert_eq!(d.route, Route::Cloud);
//! println!("{}", d.reason); // "the local model is unlikely to suffice (p = 0.20 < 0.50)"
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a query is answered.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The small model on the device.
    Local,
    /// The cloud model behind the edge worker.
    Cloud,
}

/// When PII density keeps a query on the device.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiiRule {
    /// At least this many entities…
    pub min_entities: usize,
    /// …and at least this many per 100 words.
    pub min_per_100_words: f32,
}

impl Default for PiiRule {
    fn default() -> Self {
        Self {
            min_entities: 3,
            min_per_100_words: 10.0,
        }
    }
}

/// The router's settings.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields = nullable))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouterPolicy {
    /// The cost/quality knob: route locally when the probability that the
    /// local model suffices is at least this. 0 = always local (cheapest),
    /// above 1 = cloud unless a rule says otherwise (best quality).
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub min_local_probability: f32,
    /// A user setting that overrides the model (`None`: let it decide).
    pub force: Option<Route>,
    /// Keep PII-dense text local (`None`: no such rule).
    pub pii_local: Option<PiiRule>,
    /// Keep a conversation local once one of its messages was kept local as PII-dense.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub keep_private: bool,
    /// How far above the threshold `p_local` must be to bring a conversation back from the
    /// cloud to the device (0: no stickiness).
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub switch_margin: f32,
}

impl Default for RouterPolicy {
    fn default() -> Self {
        Self {
            min_local_probability: 0.5,
            force: None,
            pii_local: Some(PiiRule::default()),
            keep_private: true,
            switch_margin: 0.15,
        }
    }
}

/// What the router knows about the conversation before this message.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields = nullable))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conversation {
    /// Where the previous answer came from (`None`: a first message, or not known).
    pub previous: Option<Route>,
    /// An earlier message was kept on the device as PII-dense.
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub private: bool,
}

/// What the router knows about one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Signals {
    /// Calibrated probability that the local model suffices.
    pub p_local: f32,
    /// Entities the shield found in the query.
    pub entities: usize,
    /// Words in the query.
    pub words: usize,
    /// Whether the cloud can be reached (network up and a worker configured).
    pub cloud_available: bool,
    /// Whether a local model is loaded.
    pub local_available: bool,
    /// The conversation so far.
    pub conversation: Conversation,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            p_local: 0.5,
            entities: 0,
            words: 0,
            cloud_available: true,
            local_available: true,
            conversation: Conversation::default(),
        }
    }
}

/// Why a route was chosen.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "RouteReason"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Reason {
    /// No local model is loaded.
    NoLocalModel,
    /// The cloud cannot be reached.
    Offline,
    /// The user's setting.
    UserSetting {
        /// The route the user chose.
        route: Route,
    },
    /// Too much PII to send even redacted.
    PiiDense {
        /// Entities found.
        entities: usize,
        /// Entities per 100 words.
        per_100_words: f32,
    },
    /// An earlier message of the conversation was kept local as PII-dense.
    PrivateConversation,
    /// The previous answer came from the cloud, and the probability did not clear the
    /// threshold by the switch margin.
    StaysInCloud {
        /// Probability that the local model suffices.
        p_local: f32,
        /// What it had to reach: the threshold plus the switch margin.
        needed: f32,
    },
    /// The model's probability cleared the threshold.
    LocalSuffices {
        /// Probability that the local model suffices.
        p_local: f32,
        /// The threshold in force.
        threshold: f32,
    },
    /// The model's probability fell short of the threshold.
    NeedsCloud {
        /// Probability that the local model suffices.
        p_local: f32,
        /// The threshold in force.
        threshold: f32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoLocalModel => write!(f, "no local model is loaded"),
            Reason::Offline => write!(f, "the cloud is unreachable, answering on the device"),
            Reason::UserSetting { route: Route::Local } => write!(f, "the user chose the local model"),
            Reason::UserSetting { route: Route::Cloud } => write!(f, "the user chose the cloud model"),
            Reason::PiiDense {
                entities,
                per_100_words,
            } => write!(
                f,
                "{entities} personal data items ({per_100_words:.0} per 100 words) stay on the device"
            ),
            Reason::PrivateConversation => write!(
                f,
                "an earlier message of this conversation stayed on the device for its personal data, so the rest does too"
            ),
            Reason::StaysInCloud { p_local, needed } => write!(
                f,
                "the conversation stays in the cloud, which has its context (p = {p_local:.2} < {needed:.2} to switch back)"
            ),
            Reason::LocalSuffices { p_local, threshold } => {
                write!(f, "the local model likely suffices (p = {p_local:.2} ≥ {threshold:.2})")
            }
            Reason::NeedsCloud { p_local, threshold } => write!(
                f,
                "the local model is unlikely to suffice (p = {p_local:.2} < {threshold:.2})"
            ),
        }
    }
}

/// A routing decision.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Where the query goes.
    pub route: Route,
    /// The model's probability that the local model suffices.
    pub p_local: f32,
    /// Why.
    pub reason: Reason,
}

impl RouterPolicy {
    /// Decides one query.
    pub fn decide(&self, s: &Signals) -> Decision {
        let p_local = if s.p_local.is_finite() {
            s.p_local.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let decision = |route, reason| Decision { route, p_local, reason };
        if !s.local_available {
            return decision(Route::Cloud, Reason::NoLocalModel);
        }
        if !s.cloud_available {
            return decision(Route::Local, Reason::Offline);
        }
        if let Some(route) = self.force {
            return decision(route, Reason::UserSetting { route });
        }
        if self.keep_private && s.conversation.private {
            return decision(Route::Local, Reason::PrivateConversation);
        }
        if let Some(rule) = self.pii_local {
            let per_100_words = 100.0 * s.entities as f32 / s.words.max(1) as f32;
            if s.entities >= rule.min_entities && per_100_words >= rule.min_per_100_words {
                return decision(
                    Route::Local,
                    Reason::PiiDense {
                        entities: s.entities,
                        per_100_words,
                    },
                );
            }
        }
        let threshold = self.min_local_probability;
        let needed = threshold + self.switch_margin.max(0.0);
        if s.conversation.previous == Some(Route::Cloud) && p_local >= threshold && p_local < needed {
            return decision(Route::Cloud, Reason::StaysInCloud { p_local, needed });
        }
        if p_local >= threshold {
            decision(Route::Local, Reason::LocalSuffices { p_local, threshold })
        } else {
            decision(Route::Cloud, Reason::NeedsCloud { p_local, threshold })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order() {
        let p = RouterPolicy::default();
        let base = Signals {
            p_local: 0.1,
            entities: 5,
            words: 20,
            ..Signals::default()
        };
        assert_eq!(
            p.decide(&Signals {
                local_available: false,
                ..base.clone()
            })
            .reason,
            Reason::NoLocalModel
        );
        let offline = p.decide(&Signals {
            cloud_available: false,
            ..base.clone()
        });
        assert_eq!((offline.route, offline.reason), (Route::Local, Reason::Offline));
        let forced = RouterPolicy {
            force: Some(Route::Cloud),
            ..p.clone()
        }
        .decide(&base);
        assert_eq!(forced.route, Route::Cloud);
        let dense = p.decide(&base);
        assert_eq!(dense.route, Route::Local);
        assert!(matches!(dense.reason, Reason::PiiDense { entities: 5, .. }));
        // Sparse PII: the model decides.
        let sparse = p.decide(&Signals { words: 200, ..base });
        assert_eq!(sparse.route, Route::Cloud);
        assert!(sparse.reason.to_string().contains("0.10 < 0.50"), "{}", sparse.reason);
    }

    #[test]
    fn the_threshold_is_the_cost_quality_knob() {
        let s = Signals {
            p_local: 0.6,
            ..Signals::default()
        };
        let at = |t| {
            RouterPolicy {
                min_local_probability: t,
                ..RouterPolicy::default()
            }
            .decide(&s)
            .route
        };
        assert_eq!(at(0.0), Route::Local);
        assert_eq!(at(0.6), Route::Local);
        assert_eq!(at(0.61), Route::Cloud);
        assert_eq!(at(1.1), Route::Cloud);
    }

    #[test]
    fn a_conversation_kept_local_for_its_personal_data_stays_local() {
        let private = Signals {
            p_local: 0.05,
            conversation: Conversation {
                previous: Some(Route::Local),
                private: true,
            },
            ..Signals::default()
        };
        let d = RouterPolicy::default().decide(&private);
        assert_eq!((d.route, d.reason), (Route::Local, Reason::PrivateConversation));
        let off = RouterPolicy {
            keep_private: false,
            ..RouterPolicy::default()
        };
        assert_eq!(off.decide(&private).route, Route::Cloud);
        // The user's setting and a missing cloud still come first.
        let forced = RouterPolicy {
            force: Some(Route::Cloud),
            ..RouterPolicy::default()
        };
        assert_eq!(forced.decide(&private).route, Route::Cloud);
    }

    #[test]
    fn after_a_cloud_answer_only_a_clear_margin_brings_the_conversation_back() {
        let at = |p_local, previous| {
            RouterPolicy::default().decide(&Signals {
                p_local,
                conversation: Conversation {
                    previous,
                    private: false,
                },
                ..Signals::default()
            })
        };
        // Default margin 0.15 over the 0.5 threshold.
        let stays = at(0.6, Some(Route::Cloud));
        assert_eq!(stays.route, Route::Cloud);
        assert_eq!(
            stays.reason,
            Reason::StaysInCloud {
                p_local: 0.6,
                needed: 0.65
            }
        );
        assert!(stays.reason.to_string().contains("0.60 < 0.65"), "{}", stays.reason);
        assert_eq!(at(0.7, Some(Route::Cloud)).route, Route::Local);
        assert_eq!(
            at(0.3, Some(Route::Cloud)).reason,
            Reason::NeedsCloud {
                p_local: 0.3,
                threshold: 0.5
            }
        );
        // From the device to the cloud there is no margin: quality first.
        assert_eq!(at(0.6, Some(Route::Local)).route, Route::Local);
        assert_eq!(at(0.45, Some(Route::Local)).route, Route::Cloud);
        assert_eq!(at(0.6, None).route, Route::Local);
    }

    #[test]
    fn nan_probability_goes_to_the_cloud() {
        let d = RouterPolicy::default().decide(&Signals {
            p_local: f32::NAN,
            ..Signals::default()
        });
        assert_eq!((d.route, d.p_local), (Route::Cloud, 0.0));
    }

    #[test]
    fn decisions_serialize_for_javascript() {
        let d = RouterPolicy::default().decide(&Signals {
            p_local: 0.75,
            ..Signals::default()
        });
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["route"], "local");
        assert_eq!(json["reason"]["kind"], "localSuffices");
        let policy: RouterPolicy = serde_json::from_str(r#"{"minLocalProbability":0.8,"force":"cloud"}"#).unwrap();
        assert_eq!(policy.force, Some(Route::Cloud));
        assert_eq!(policy.pii_local, Some(PiiRule::default()));
        assert!(policy.keep_private);
        let conversation: Conversation = serde_json::from_str(r#"{"previous":"cloud"}"#).unwrap();
        assert_eq!(
            conversation,
            Conversation {
                previous: Some(Route::Cloud),
                private: false
            }
        );
        let json = serde_json::to_value(Reason::StaysInCloud {
            p_local: 0.5,
            needed: 0.65,
        })
        .unwrap();
        assert_eq!(json["kind"], "staysInCloud");
        // Fields are camelCase like every other object JavaScript gets.
        assert_eq!(json["pLocal"], 0.5);
        let json = serde_json::to_value(Reason::PiiDense {
            entities: 3,
            per_100_words: 12.0,
        })
        .unwrap();
        assert_eq!(json["per100Words"], 12.0);
    }
}
