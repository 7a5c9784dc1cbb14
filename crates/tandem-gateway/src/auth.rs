//! Client authentication by bearer token, compared in constant time.

use crate::secret::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that matches no client.
    Invalid,
}

/// The name of the client whose token `authorization` carries.
///
/// Tokens are hashed before comparison so that neither their content nor
/// their length shows in the time taken; every client is compared.
pub(crate) fn authenticate<'a>(
    authorization: Option<&str>,
    clients: &'a [(String, Secret)],
) -> Result<&'a str, AuthError> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    let presented = Sha256::digest(token.as_bytes());
    let mut found = None;
    for (name, secret) in clients {
        let expected = Sha256::digest(secret.expose().as_bytes());
        if bool::from(presented.ct_eq(&expected)) && found.is_none() {
            found = Some(name.as_str());
        }
    }
    found.ok_or(AuthError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_client_and_refuses_the_rest() {
        let clients = vec![
            ("a".to_owned(), Secret::new("t-a")),
            ("b".to_owned(), Secret::new("t-b")),
        ];
        assert_eq!(authenticate(Some("Bearer t-b"), &clients), Ok("b"));
        assert_eq!(authenticate(Some("Bearer t-c"), &clients), Err(AuthError::Invalid));
        assert_eq!(authenticate(Some("Bearer t-"), &clients), Err(AuthError::Invalid));
        assert_eq!(authenticate(Some("Basic dDp0"), &clients), Err(AuthError::Missing));
        assert_eq!(authenticate(Some("Bearer "), &clients), Err(AuthError::Missing));
        assert_eq!(authenticate(None, &clients), Err(AuthError::Missing));
    }
}
