//! The PII entity taxonomy.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A kind of personal or secret information the shield can find.
///
/// Names follow Microsoft Presidio's entity names where Presidio has one, so
/// that labeled data sets and reports line up without a mapping table.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityKind {
    /// An e-mail address, including spelled-out forms ("jo dot x at host dot com").
    EmailAddress,
    /// A telephone number in international or national format.
    PhoneNumber,
    /// A payment card number (Luhn-valid, known issuer range).
    CreditCard,
    /// An International Bank Account Number (mod-97 valid).
    IbanCode,
    /// A US Social Security number.
    UsSsn,
    /// An IPv4 or IPv6 address (not loopback, not a netmask).
    IpAddress,
    /// A URL or bare domain name.
    Url,
    /// A credential: API key, token, private key block or plain-text password.
    Secret,
    /// A date stated as somebody's date of birth.
    DateOfBirth,
    /// A person's name (model layer, later issue).
    Person,
    /// A place: city, country, region (model layer, later issue).
    Location,
    /// An organization's name (model layer, later issue).
    Organization,
    /// A postal street address (model layer, later issue).
    StreetAddress,
}

impl EntityKind {
    /// Every kind, in a stable order (used for reports and policy tables).
    pub const ALL: [EntityKind; 13] = [
        EntityKind::EmailAddress,
        EntityKind::PhoneNumber,
        EntityKind::CreditCard,
        EntityKind::IbanCode,
        EntityKind::UsSsn,
        EntityKind::IpAddress,
        EntityKind::Url,
        EntityKind::Secret,
        EntityKind::DateOfBirth,
        EntityKind::Person,
        EntityKind::Location,
        EntityKind::Organization,
        EntityKind::StreetAddress,
    ];

    /// The Presidio-style name, e.g. `EMAIL_ADDRESS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::EmailAddress => "EMAIL_ADDRESS",
            EntityKind::PhoneNumber => "PHONE_NUMBER",
            EntityKind::CreditCard => "CREDIT_CARD",
            EntityKind::IbanCode => "IBAN_CODE",
            EntityKind::UsSsn => "US_SSN",
            EntityKind::IpAddress => "IP_ADDRESS",
            EntityKind::Url => "URL",
            EntityKind::Secret => "SECRET",
            EntityKind::DateOfBirth => "DATE_OF_BIRTH",
            EntityKind::Person => "PERSON",
            EntityKind::Location => "LOCATION",
            EntityKind::Organization => "ORGANIZATION",
            EntityKind::StreetAddress => "STREET_ADDRESS",
        }
    }

    /// The short label used inside placeholders, e.g. `EMAIL` in `[EMAIL_1]`.
    ///
    /// Short labels keep placeholders cheap in tokens and readable for the
    /// cloud model, which sees them in place of the original values.
    pub const fn placeholder_label(self) -> &'static str {
        match self {
            EntityKind::EmailAddress => "EMAIL",
            EntityKind::PhoneNumber => "PHONE",
            EntityKind::CreditCard => "CARD",
            EntityKind::IbanCode => "IBAN",
            EntityKind::UsSsn => "SSN",
            EntityKind::IpAddress => "IP",
            EntityKind::Url => "URL",
            EntityKind::Secret => "SECRET",
            EntityKind::DateOfBirth => "DOB",
            EntityKind::Person => "PERSON",
            EntityKind::Location => "LOCATION",
            EntityKind::Organization => "ORG",
            EntityKind::StreetAddress => "ADDRESS",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that names no [`EntityKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEntityKind(pub String);

impl fmt::Display for UnknownEntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown entity kind `{}`; expected one of: ", self.0)?;
        for (i, kind) in EntityKind::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownEntityKind {}

impl FromStr for EntityKind {
    type Err = UnknownEntityKind;

    /// Parses a Presidio-style name or a placeholder label, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|k| s.eq_ignore_ascii_case(k.as_str()) || s.eq_ignore_ascii_case(k.placeholder_label()))
            .ok_or_else(|| UnknownEntityKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for kind in EntityKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EntityKind>(&json).unwrap(), kind);
            assert_eq!(kind.as_str().parse::<EntityKind>().unwrap(), kind);
            assert_eq!(
                kind.placeholder_label().to_lowercase().parse::<EntityKind>().unwrap(),
                kind
            );
        }
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "PASSPORT".parse::<EntityKind>().unwrap_err();
        assert!(err.to_string().contains("EMAIL_ADDRESS"));
    }

    #[test]
    fn placeholder_labels_are_unique() {
        let mut labels: Vec<_> = EntityKind::ALL.iter().map(|k| k.placeholder_label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), EntityKind::ALL.len());
    }
}
