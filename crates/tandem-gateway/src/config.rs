//! Gateway configuration: a JSON document (a worker var, or a file for
//! `tandem serve`) that names secrets instead of containing them.
//!
//! ```json
//! {
//!   "upstreams": [
//!     {"name": "primary", "base_url": "https://api.openai.com/v1", "api_key_secret": "OPENAI_API_KEY",
//!      "models": {"gpt-small": "gpt-4o-mini"}, "timeout_ms": 30000, "retries": 2},
//!     {"name": "backup", "base_url": "https://vllm.internal/v1", "models": {"*": "*"}}
//!   ],
//!   "clients": [{"name": "web", "token_secret": "TANDEM_TOKEN_WEB"}],
//!   "limits": {"max_body_bytes": 1048576, "requests_per_minute": 120, "burst": 20},
//!   "cors_origins": ["https://app.example.com"]
//! }
//! ```

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The configuration as written, with secret names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// Upstreams in the order they are tried.
    pub upstreams: Vec<UpstreamSpec>,
    /// Clients allowed in, each with a bearer token.
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    /// Serve requests without a token. Off unless set: a gateway holding
    /// API keys must not be open by accident.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Request size and rate limits.
    #[serde(default)]
    pub limits: Limits,
    /// Origins browsers may call from (`*` for any).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The sealed channel (`/v1/seal/keys`, `/v1/sealed`); off when absent.
    #[serde(default)]
    pub seal: Option<SealSpec>,
    /// What a client may spend upstream, unless its own `policy` replaces it.
    #[serde(default)]
    pub policy: Policy,
    /// The public model a request for `"default"` gets (when absent, the first public model by
    /// name), so that a client need not know the gateway's model names.
    #[serde(default)]
    pub default_model: Option<String>,
}

/// The model name a client may send without knowing the gateway's names (see
/// [`GatewayConfig::model_name`]).
pub(crate) const DEFAULT_MODEL: &str = "default";

/// What a client may spend on the upstreams: the gateway holds the keys, so
/// it caps what each request and each client can cost.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Largest `max_tokens` (or `max_completion_tokens`) a request may ask
    /// for; a request that sets neither is sent with this one.
    pub max_tokens: u32,
    /// Largest `n` (choices per request).
    pub max_n: u32,
    /// Public model names the client may use; all of them when absent. A
    /// `"*"` mapping passes any name through, so set this where one exists.
    pub models: Option<Vec<String>>,
    /// Tokens (prompt and completion, as the upstream reports them) the
    /// client may use; none when absent.
    pub token_budget: Option<TokenBudget>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_tokens: 4096,
            max_n: 1,
            models: None,
            token_budget: None,
        }
    }
}

/// A token allowance refilled continuously: `tokens` per `per_seconds`, and
/// never more than `tokens` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBudget {
    /// Tokens per period (also the most that can be saved up).
    pub tokens: u64,
    /// The period, in seconds.
    pub per_seconds: u64,
}

/// Sealed-channel settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealSpec {
    /// Keys, preferred first; older ones stay accepted until `retire_after_ms`.
    pub keys: Vec<SealKeySpec>,
    /// Sealed requests whose client clock differs from the worker's by more are refused.
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Most requests the replay window remembers (each for `2 × window_ms`);
    /// when full, new sealed requests get 503 until old ones expire.
    #[serde(default = "default_max_remembered")]
    pub max_remembered: usize,
    /// A sealed stream's events arriving within this many milliseconds of the
    /// first unsent one are sealed into one record (0: one record per event).
    #[serde(default = "default_coalesce_ms")]
    pub coalesce_ms: u64,
}

/// One sealing key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealKeySpec {
    /// The id clients put in their requests (0-255).
    pub key_id: u8,
    /// Name of the secret holding the X25519 private key (base64url, `tandem seal keygen`).
    pub secret: String,
    /// After this time (ms since the epoch) the key is refused and no longer published.
    #[serde(default)]
    pub retire_after_ms: Option<f64>,
}

/// One OpenAI-compatible upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// A name for logs.
    pub name: String,
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    /// Name of the secret holding its API key (none: no `Authorization`).
    #[serde(default)]
    pub api_key_secret: Option<String>,
    /// Public model name to the upstream's name; `"*": "*"` passes any name through.
    pub models: BTreeMap<String, String>,
    /// Most time to wait for the response headers and first body bytes.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most time between two chunks of a streamed body.
    #[serde(default = "default_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Extra attempts on this upstream before falling back to the next.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff delay; doubled on each retry (or `Retry-After` when shorter than 10 s).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

/// A client and the secret holding its token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// A name for logs and rate limiting.
    pub name: String,
    /// Name of the secret holding its bearer token.
    pub token_secret: String,
    /// Replaces the gateway's `policy` for this client (fields it omits take
    /// the built-in defaults, not the gateway's).
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// Size and rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Sustained requests per minute per client.
    pub requests_per_minute: u32,
    /// Requests a client may make at once above the sustained rate.
    pub burst: u32,
    /// Sealed requests per minute from one address (IP), counted before the
    /// request is decrypted: opening one costs an X25519 operation before
    /// the client's token can be checked. Many users may share an address.
    pub peer_requests_per_minute: u32,
    /// Sealed requests one address may send at once above its sustained rate.
    pub peer_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            requests_per_minute: 120,
            burst: 20,
            peer_requests_per_minute: 600,
            peer_burst: 100,
        }
    }
}

fn default_window_ms() -> u64 {
    300_000
}
fn default_coalesce_ms() -> u64 {
    20
}
fn default_max_remembered() -> usize {
    tandem_seal::DEFAULT_CAPACITY
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_retries() -> u32 {
    1
}
fn default_backoff_ms() -> u64 {
    100
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Not valid JSON or not the expected shape.
    #[error("invalid gateway configuration: {0}")]
    Invalid(String),
    /// A named secret is not set.
    #[error("secret `{0}` is not set")]
    MissingSecret(String),
}

/// The configuration with secrets resolved, ready to serve.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub(crate) spec: GatewaySpec,
    pub(crate) upstream_keys: Vec<Option<Secret>>,
    pub(crate) client_tokens: Vec<(String, Secret)>,
    pub(crate) seal_keys: Option<tandem_seal::ServerKeys>,
}

impl GatewayConfig {
    /// Parses `json` and resolves every secret it names through `secret`.
    pub fn from_json(json: &str, secret: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let spec: GatewaySpec = serde_json::from_str(json).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Self::resolve(spec, secret)
    }

    /// A gateway with no upstreams, open to anyone, without rate limits: for
    /// `tandem serve --target`, which only verifies drafts in process.
    pub fn local_only() -> Self {
        Self {
            spec: GatewaySpec {
                upstreams: Vec::new(),
                clients: Vec::new(),
                allow_anonymous: true,
                limits: Limits {
                    requests_per_minute: u32::MAX,
                    burst: u32::MAX,
                    ..Limits::default()
                },
                cors_origins: Vec::new(),
                seal: None,
                policy: Policy::default(),
                default_model: None,
            },
            upstream_keys: Vec::new(),
            client_tokens: Vec::new(),
            seal_keys: None,
        }
    }

    /// Resolves the secrets `spec` names.
    pub fn resolve(spec: GatewaySpec, secret: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if spec.upstreams.is_empty() {
            return Err(ConfigError::Invalid("at least one upstream is needed".into()));
        }
        for u in &spec.upstreams {
            if !(u.base_url.starts_with("http://") || u.base_url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "upstream `{}`: base_url must start with http:// or https://",
                    u.name
                )));
            }
            if u.api_key_secret.is_some() && u.base_url.starts_with("http://") && !is_loopback_url(&u.base_url) {
                return Err(ConfigError::Invalid(format!(
                    "upstream `{}`: its API key would travel in clear text: use https:// (http:// only to a loopback address)",
                    u.name
                )));
            }
            if u.models.is_empty() {
                return Err(ConfigError::Invalid(format!("upstream `{}` serves no models", u.name)));
            }
        }
        if let Some(name) = &spec.default_model
            && !spec.upstreams.iter().any(|u| u.models.contains_key(name))
        {
            return Err(ConfigError::Invalid(format!(
                "default_model `{name}` is not a model of any upstream"
            )));
        }
        for (who, policy) in std::iter::once(("the gateway", &spec.policy)).chain(
            spec.clients
                .iter()
                .filter_map(|c| Some((c.name.as_str(), c.policy.as_ref()?))),
        ) {
            if policy.max_tokens == 0 || policy.max_n == 0 {
                return Err(ConfigError::Invalid(format!(
                    "{who}: max_tokens and max_n must be at least 1"
                )));
            }
            for model in policy.models.iter().flatten() {
                if !spec
                    .upstreams
                    .iter()
                    .any(|u| u.models.contains_key(model) || u.models.contains_key("*"))
                {
                    return Err(ConfigError::Invalid(format!(
                        "{who}: allowed model `{model}` is served by no upstream"
                    )));
                }
            }
            if policy.token_budget.is_some_and(|b| b.tokens == 0 || b.per_seconds == 0) {
                return Err(ConfigError::Invalid(format!(
                    "{who}: a token budget needs tokens and per_seconds of at least 1"
                )));
            }
        }
        let l = spec.limits;
        if [l.requests_per_minute, l.burst, l.peer_requests_per_minute, l.peer_burst].contains(&0) {
            return Err(ConfigError::Invalid(
                "requests_per_minute, burst, peer_requests_per_minute and peer_burst must be at least 1".into(),
            ));
        }
        let lookup = |name: &str| {
            secret(name)
                .map(Secret::new)
                .ok_or_else(|| ConfigError::MissingSecret(name.into()))
        };
        let upstream_keys = spec
            .upstreams
            .iter()
            .map(|u| u.api_key_secret.as_deref().map(lookup).transpose())
            .collect::<Result<_, _>>()?;
        let client_tokens = spec
            .clients
            .iter()
            .map(|c| Ok((c.name.clone(), lookup(&c.token_secret)?)))
            .collect::<Result<_, ConfigError>>()?;
        let seal_keys = match &spec.seal {
            None => None,
            Some(seal) => {
                let keys = seal
                    .keys
                    .iter()
                    .map(|k| {
                        let secret = lookup(&k.secret)?;
                        tandem_seal::ServerKey::from_secret(k.key_id, secret.expose(), k.retire_after_ms)
                            .map_err(|e| ConfigError::Invalid(format!("seal key {}: {e}", k.key_id)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(tandem_seal::ServerKeys::new(keys).map_err(|e| ConfigError::Invalid(format!("seal: {e}")))?)
            }
        };
        Ok(Self {
            spec,
            upstream_keys,
            client_tokens,
            seal_keys,
        })
    }

    /// The public model names, in order of first appearance.
    pub fn public_models(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for u in &self.spec.upstreams {
            for name in u.models.keys().filter(|n| *n != "*") {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// The model a request for `name` means. `"default"` stands for `default_model`, or else
    /// the first public model (upstreams in order, each one's names sorted), unless an upstream serves a model of that name itself or passes
    /// every name through (`"*"`); any other name is itself.
    pub fn model_name<'a>(&'a self, name: &'a str) -> &'a str {
        if name != DEFAULT_MODEL || !self.route(name).is_empty() {
            return name;
        }
        self.spec
            .default_model
            .as_deref()
            .or_else(|| self.public_models().first().copied())
            .unwrap_or(name)
    }

    /// The upstreams serving `model`, in order, with the name to send them.
    pub(crate) fn route(&self, model: &str) -> Vec<(usize, String)> {
        self.spec
            .upstreams
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let mapped = u.models.get(model).or_else(|| u.models.get("*"))?;
                Some((
                    i,
                    if mapped == "*" {
                        model.to_owned()
                    } else {
                        mapped.clone()
                    },
                ))
            })
            .collect()
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.spec.limits
    }

    /// The spending policy of client `name` (its own, or the gateway's).
    pub(crate) fn policy(&self, name: &str) -> &Policy {
        self.spec
            .clients
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.policy.as_ref())
            .unwrap_or(&self.spec.policy)
    }
}

/// Whether an `http://` URL's host is a loopback address (`127.x.x.x`, `[::1]`, `localhost`).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{
        "upstreams": [
            {"name": "a", "base_url": "http://127.0.0.1:1/v1", "api_key_secret": "KEY_A", "models": {"small": "m-small"}},
            {"name": "b", "base_url": "http://127.0.0.1:2/v1", "models": {"*": "*"}}
        ],
        "clients": [{"name": "web", "token_secret": "TOKEN_WEB"}]
    }"#;

    fn secrets(name: &str) -> Option<String> {
        match name {
            "KEY_A" => Some("sk-a".into()),
            "TOKEN_WEB" => Some("tok".into()),
            _ => None,
        }
    }

    #[test]
    fn routes_map_names_in_order_and_wildcards_pass_through() {
        let c = GatewayConfig::from_json(JSON, secrets).unwrap();
        assert_eq!(c.route("small"), vec![(0, "m-small".into()), (1, "small".into())]);
        assert_eq!(c.route("other"), vec![(1, "other".into())]);
        assert_eq!(c.public_models(), vec!["small"]);
        assert_eq!(c.upstream_keys[0].as_ref().unwrap().expose(), "sk-a");
    }

    #[test]
    fn default_names_the_configured_or_first_public_model_unless_an_upstream_serves_it() {
        let named = r#"{"upstreams": [{"name": "a", "base_url": "http://127.0.0.1:1/v1",
            "models": {"gpt-small": "gpt-4o-mini", "gpt-large": "gpt-4o"}}]}"#;
        let c = GatewayConfig::from_json(named, secrets).unwrap();
        assert_eq!(c.model_name("default"), "gpt-large", "the first by name");
        assert_eq!(c.model_name("gpt-small"), "gpt-small");
        let chosen = named.replace(r#""upstreams""#, r#""default_model": "gpt-small", "upstreams""#);
        assert_eq!(
            GatewayConfig::from_json(&chosen, secrets)
                .unwrap()
                .model_name("default"),
            "gpt-small"
        );
        let unknown = named.replace(r#""upstreams""#, r#""default_model": "gpt-huge", "upstreams""#);
        assert!(
            matches!(GatewayConfig::from_json(&unknown, secrets), Err(ConfigError::Invalid(m)) if m.contains("gpt-huge"))
        );
        // A wildcard passes "default" through as any other name.
        assert_eq!(
            GatewayConfig::from_json(JSON, secrets).unwrap().model_name("default"),
            "default"
        );
    }

    #[test]
    fn missing_secrets_and_bad_shapes_are_named() {
        let err = GatewayConfig::from_json(JSON, |_| None).unwrap_err();
        assert_eq!(err, ConfigError::MissingSecret("KEY_A".into()));
        assert!(matches!(
            GatewayConfig::from_json(r#"{"upstreams": [], "extra": 1}"#, secrets),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            GatewayConfig::from_json(r#"{"upstreams": []}"#, secrets),
            Err(ConfigError::Invalid(m)) if m.contains("at least one")
        ));
        let clear = r#"{"upstreams": [{"name": "x", "base_url": "http://api.example.com/v1", "api_key_secret": "KEY_A", "models": {"*": "*"}}]}"#;
        assert!(
            matches!(GatewayConfig::from_json(clear, secrets), Err(ConfigError::Invalid(m)) if m.contains("clear text"))
        );
        for local in [
            "http://127.0.0.1:8000/v1",
            "http://localhost:8000/v1",
            "http://[::1]:8000/v1",
        ] {
            let json = clear.replace("http://api.example.com/v1", local);
            assert!(GatewayConfig::from_json(&json, secrets).is_ok(), "{local}");
        }
        let tricky = clear.replace("http://api.example.com/v1", "http://127.0.0.1.evil.com/v1");
        assert!(GatewayConfig::from_json(&tricky, secrets).is_err());
        let policy = |p: &str| {
            format!(
                r#"{{"upstreams": [{{"name": "x", "base_url": "https://h/v1", "models": {{"a": "b"}}}}],
                    "clients": [{{"name": "web", "token_secret": "TOKEN_WEB", "policy": {p}}}]}}"#
            )
        };
        for (p, said) in [
            (r#"{"models": ["typo"]}"#, "served by no upstream"),
            (r#"{"max_n": 0}"#, "at least 1"),
            (r#"{"token_budget": {"tokens": 0, "per_seconds": 60}}"#, "token budget"),
            (r#"{"max_tokenz": 5}"#, "unknown field"),
        ] {
            let err = GatewayConfig::from_json(&policy(p), secrets).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid(m) if m.contains(said)),
                "{p}: {err}"
            );
        }
        let ok = GatewayConfig::from_json(&policy(r#"{"models": ["a"], "max_tokens": 64}"#), secrets).unwrap();
        assert_eq!(ok.policy("web").max_tokens, 64);
        assert_eq!(ok.policy("other").max_tokens, 4096, "the gateway's policy");
        let ftp = r#"{"upstreams": [{"name": "x", "base_url": "ftp://h", "models": {"*": "*"}}]}"#;
        assert!(matches!(GatewayConfig::from_json(ftp, secrets), Err(ConfigError::Invalid(m)) if m.contains("http")));
    }
}
