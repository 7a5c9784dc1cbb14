//! CORS for browser clients.

/// Headers to add for a request from `origin`, if that origin is allowed.
pub(crate) fn allow_headers(origin: Option<&str>, allowed: &[String]) -> Option<Vec<(String, String)>> {
    let origin = origin?;
    allowed.iter().any(|a| a == "*" || a == origin).then(|| {
        vec![
            ("access-control-allow-origin".into(), origin.to_owned()),
            ("vary".into(), "origin".into()),
            ("access-control-expose-headers".into(), "x-request-id".into()),
        ]
    })
}

/// The extra headers of a preflight (`OPTIONS`) answer.
pub(crate) fn preflight_headers() -> Vec<(String, String)> {
    vec![
        ("access-control-allow-methods".into(), "GET, POST, OPTIONS".into()),
        (
            "access-control-allow-headers".into(),
            "authorization, content-type, x-tandem-seal-key".into(),
        ),
        ("access-control-max-age".into(), "600".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed() {
        let allowed = vec!["https://app.example".to_owned()];
        assert!(allow_headers(Some("https://app.example"), &allowed).is_some());
        assert!(allow_headers(Some("https://evil.example"), &allowed).is_none());
        assert!(allow_headers(None, &allowed).is_none());
        assert!(allow_headers(Some("https://x"), &["*".to_owned()]).is_some());
    }
}
