//! Labeled data sets and prediction files.

use serde::{Deserialize, Serialize};

/// One labeled span, offsets in code points.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LabeledSpan {
    /// Canonical label (see [`canonical_label`]).
    pub label: String,
    /// Start (inclusive), code points.
    pub start: usize,
    /// End (exclusive), code points.
    pub end: usize,
}

/// One text with its gold (or predicted) spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The text.
    pub text: String,
    /// Its spans.
    pub spans: Vec<LabeledSpan>,
}

/// Why a data set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The content is not valid JSON of either format.
    #[error("record {record}: {source}")]
    Json {
        /// 1-based record (array element or line) number.
        record: usize,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A span lies outside its text or is reversed.
    #[error("record {record}: span {start}..{end} ({label}) does not fit a text of {len} code points")]
    BadSpan {
        /// 1-based record number.
        record: usize,
        /// The span's label.
        label: String,
        /// Its start.
        start: usize,
        /// Its end.
        end: usize,
        /// Text length in code points.
        len: usize,
    },
}

#[derive(Deserialize)]
struct PresidioRecord {
    full_text: String,
    #[serde(default)]
    spans: Vec<PresidioSpan>,
}

#[derive(Deserialize)]
struct PresidioSpan {
    entity_type: String,
    start_position: usize,
    end_position: usize,
}

#[derive(Deserialize)]
struct JsonlRecord {
    text: String,
    #[serde(default)]
    spans: Vec<LabeledSpan>,
}

/// Maps the label names used by Presidio's data, spaCy and common NER sets
/// onto the shield's names (e.g. `DOMAIN_NAME` → `URL`, `GPE` → `LOCATION`).
pub fn canonical_label(label: &str) -> String {
    let upper = label.trim().to_ascii_uppercase();
    let mapped = match upper.as_str() {
        "DOMAIN_NAME" | "DOMAIN" => "URL",
        "GPE" | "LOC" | "CITY" | "COUNTRY" => "LOCATION",
        "ORG" => "ORGANIZATION",
        "PER" | "NAME" => "PERSON",
        "ADDRESS" => "STREET_ADDRESS",
        "EMAIL" => "EMAIL_ADDRESS",
        "PHONE" => "PHONE_NUMBER",
        "IBAN" => "IBAN_CODE",
        "SSN" => "US_SSN",
        "IP" => "IP_ADDRESS",
        "DOB" => "DATE_OF_BIRTH",
        "CARD" | "CREDIT_CARD_NUMBER" => "CREDIT_CARD",
        other => other,
    };
    mapped.to_owned()
}

/// Parses Presidio JSON (a top-level array) or JSONL (one object a line).
pub fn parse_dataset(content: &str) -> Result<Vec<Example>, DatasetError> {
    let trimmed = content.trim_start();
    let examples = if trimmed.starts_with('[') {
        let records: Vec<serde_json::Value> =
            serde_json::from_str(trimmed).map_err(|source| DatasetError::Json { record: 0, source })?;
        records
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let r: PresidioRecord =
                    serde_json::from_value(v).map_err(|source| DatasetError::Json { record: i + 1, source })?;
                let spans = r
                    .spans
                    .into_iter()
                    .map(|s| LabeledSpan {
                        label: s.entity_type,
                        start: s.start_position,
                        end: s.end_position,
                    })
                    .collect();
                Ok(Example {
                    text: r.full_text,
                    spans,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        content
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                let r: JsonlRecord =
                    serde_json::from_str(line).map_err(|source| DatasetError::Json { record: i + 1, source })?;
                Ok(Example {
                    text: r.text,
                    spans: r.spans,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    examples
        .into_iter()
        .enumerate()
        .map(|(i, mut ex)| {
            let len = ex.text.chars().count();
            for s in &mut ex.spans {
                s.label = canonical_label(&s.label);
                if s.start > s.end || s.end > len {
                    return Err(DatasetError::BadSpan {
                        record: i + 1,
                        label: s.label.clone(),
                        start: s.start,
                        end: s.end,
                        len,
                    });
                }
            }
            Ok(ex)
        })
        .collect()
}

/// Converts shield detections given in code points to labeled spans.
pub fn spans_from_detections(detections: &[tandem_protocol::Detection]) -> Vec<LabeledSpan> {
    detections
        .iter()
        .map(|d| LabeledSpan {
            label: d.kind.as_str().to_owned(),
            start: d.start,
            end: d.end,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_presidio_json() {
        let json = r#"[{"full_text": "Zoë at 1.2.3.4", "masked": "", "spans": [
            {"entity_type": "PERSON", "entity_value": "Zoë", "start_position": 0, "end_position": 3},
            {"entity_type": "GPE", "entity_value": "x", "start_position": 4, "end_position": 6}]}]"#;
        let ex = parse_dataset(json).unwrap();
        assert_eq!(
            ex[0].spans[1],
            LabeledSpan {
                label: "LOCATION".into(),
                start: 4,
                end: 6
            }
        );
    }

    #[test]
    fn reads_jsonl_and_checks_spans() {
        let jsonl = "{\"text\": \"é 1\", \"spans\": [{\"label\": \"DOMAIN_NAME\", \"start\": 2, \"end\": 3}]}\n\n";
        assert_eq!(parse_dataset(jsonl).unwrap()[0].spans[0].label, "URL");
        let bad = "{\"text\": \"é\", \"spans\": [{\"label\": \"X\", \"start\": 0, \"end\": 2}]}";
        assert!(
            parse_dataset(bad)
                .unwrap_err()
                .to_string()
                .contains("does not fit a text of 1 code points")
        );
        assert!(parse_dataset("{nope").unwrap_err().to_string().starts_with("record 1"));
    }
}
