//! Key configurations: what the worker publishes, what it holds.

use crate::{AEAD_ID, KDF_ID, KEM_ID, Kem, SealError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hpke::{Deserializable, Kem as _, Serializable};
use serde::{Deserialize, Serialize};

/// A public key configuration, as the worker publishes it (`GET /v1/seal/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConfig {
    /// Which key: the first byte of every sealed request.
    pub key_id: u8,
    /// Always [`KEM_ID`].
    pub kem_id: u16,
    /// Always [`KDF_ID`].
    pub kdf_id: u16,
    /// Always [`AEAD_ID`].
    pub aead_id: u16,
    /// The X25519 public key, base64url without padding.
    pub public_key: String,
}

/// The published list; clients use the first entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConfigs {
    /// Accepted keys, preferred first.
    pub keys: Vec<KeyConfig>,
}

impl KeyConfig {
    pub(crate) fn public_key(&self) -> Result<<Kem as hpke::Kem>::PublicKey, SealError> {
        if (self.kem_id, self.kdf_id, self.aead_id) != (KEM_ID, KDF_ID, AEAD_ID) {
            return Err(SealError::BadKey("unsupported HPKE suite".into()));
        }
        let bytes = B64
            .decode(&self.public_key)
            .map_err(|_| SealError::BadKey("public_key is not base64url".into()))?;
        <Kem as hpke::Kem>::PublicKey::from_bytes(&bytes)
            .map_err(|_| SealError::BadKey("public_key is not an X25519 key".into()))
    }
}

/// A private key the worker holds.
#[derive(Clone)]
pub struct ServerKey {
    pub(crate) key_id: u8,
    pub(crate) secret: <Kem as hpke::Kem>::PrivateKey,
    pub(crate) public: <Kem as hpke::Kem>::PublicKey,
    /// Requests sealed to this key are refused after this time (ms since the epoch).
    pub(crate) retire_after_ms: Option<f64>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKey {{ key_id: {}, .. }}", self.key_id)
    }
}

impl ServerKey {
    /// A key from its 32 secret bytes (base64url, as stored in a worker secret).
    pub fn from_secret(key_id: u8, secret_b64: &str, retire_after_ms: Option<f64>) -> Result<Self, SealError> {
        let bytes = B64
            .decode(secret_b64.trim())
            .map_err(|_| SealError::BadKey(format!("key {key_id}: the secret is not base64url")))?;
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes)
            .map_err(|_| SealError::BadKey(format!("key {key_id}: the secret is not 32 bytes")))?;
        let public = <Kem as hpke::Kem>::sk_to_pk(&secret);
        Ok(Self {
            key_id,
            secret,
            public,
            retire_after_ms,
        })
    }

    /// A fresh key; returns it with its secret in the form [`ServerKey::from_secret`] reads.
    pub fn generate(key_id: u8) -> (Self, String) {
        let (secret, public) = Kem::gen_keypair();
        let encoded = B64.encode(secret.to_bytes());
        (
            Self {
                key_id,
                secret,
                public,
                retire_after_ms: None,
            },
            encoded,
        )
    }

    /// What clients need to seal to this key.
    pub fn config(&self) -> KeyConfig {
        KeyConfig {
            key_id: self.key_id,
            kem_id: KEM_ID,
            kdf_id: KDF_ID,
            aead_id: AEAD_ID,
            public_key: B64.encode(self.public.to_bytes()),
        }
    }
}

/// The keys a worker accepts, preferred first.
#[derive(Debug, Clone)]
pub struct ServerKeys {
    keys: Vec<ServerKey>,
}

impl ServerKeys {
    /// Keys in order of preference; ids must be distinct.
    pub fn new(keys: Vec<ServerKey>) -> Result<Self, SealError> {
        if keys.is_empty() {
            return Err(SealError::BadKey("no keys".into()));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.key_id == k.key_id) {
                return Err(SealError::BadKey(format!("key id {} appears twice", k.key_id)));
            }
        }
        Ok(Self { keys })
    }

    /// The published configuration at `now_ms` (retired keys left out).
    pub fn configs(&self, now_ms: f64) -> KeyConfigs {
        KeyConfigs {
            keys: self
                .keys
                .iter()
                .filter(|k| k.retire_after_ms.is_none_or(|t| now_ms <= t))
                .map(ServerKey::config)
                .collect(),
        }
    }

    pub(crate) fn find(&self, key_id: u8, now_ms: f64) -> Result<&ServerKey, SealError> {
        self.keys
            .iter()
            .find(|k| k.key_id == key_id && k.retire_after_ms.is_none_or(|t| now_ms <= t))
            .ok_or(SealError::UnknownKey(key_id))
    }
}
