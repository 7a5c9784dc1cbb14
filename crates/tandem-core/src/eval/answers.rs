//! Judging a local model's answers to simple prompts by keywords, and
//! spotting degenerate text.
//!
//! A small model's answer to "What is the capital of France?" is usable when
//! it says Paris and does not loop. That is checkable without a judge model:
//! each case lists groups of acceptable words (one of each group must
//! appear, as a whole word; a trailing `*` accepts any ending), words that
//! must not appear (leftovers copied from earlier turns), and every answer
//! must not repeat itself ([`repetition`]) nor decline the task ([`refuses`]:
//! "as an AI, I don't have the capability…" is what SmolLM2-135M says to
//! most rewording requests, and it often contains the right keywords).

use serde::{Deserialize, Serialize};

use tandem_decoding::chat::Message;

/// One prompt and what a usable answer contains.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnswerCase {
    /// A name for reports.
    pub id: String,
    /// The family (`greeting`, `rewording`, `factual`, `multi-turn`…).
    pub kind: String,
    /// The conversation; the last message is the user's question.
    pub messages: Vec<Message>,
    /// Groups of words; the answer must contain one of each group.
    #[serde(default)]
    pub any: Vec<Vec<String>>,
    /// Words the answer must not contain.
    #[serde(default)]
    pub none: Vec<String>,
}

/// Why an answer passed or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// Every keyword group matched and no forbidden word appeared.
    pub keywords: bool,
    /// The share of the answer's word 3-grams seen earlier in it.
    pub repetition: f64,
    /// [`repetition`] is above [`DEGENERATE_REPETITION`].
    pub degenerate: bool,
    /// The answer declines the task ([`refuses`]).
    pub refused: bool,
}

impl Judgement {
    /// Usable: right words, no loop, no refusal.
    pub fn passed(&self) -> bool {
        self.keywords && !self.degenerate && !self.refused
    }
}

/// Phrases with which assistants decline a task (lower case).
const REFUSALS: &[&str] = &[
    "as an ai",
    "as a chatbot",
    "as a language model",
    "i don't have the capability",
    "i don't have the ability",
    "i do not have the ability",
    "i do not have the capability",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "i can't assist",
    "i cannot assist",
    "i'm not equipped",
    "i am not equipped",
];

/// The answer declines the task with one of the stock phrases.
pub fn refuses(answer: &str) -> bool {
    let lower = answer.to_lowercase().replace('\u{2019}', "'");
    REFUSALS.iter().any(|r| lower.contains(r))
}

/// Above this share of repeated word 3-grams an answer loops. Fluent English
/// repeats few 3-grams ("the end of the"…): under 0.1 in paragraphs of a
/// few hundred words; "la femme au martyre, la femme au martyre…" is 0.6.
pub const DEGENERATE_REPETITION: f64 = 0.2;

/// Parses JSON lines of [`AnswerCase`]s (blank lines skipped).
pub fn parse_cases(jsonl: &str) -> Result<Vec<AnswerCase>, String> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Judges `answer` against `case`.
pub fn judge(case: &AnswerCase, answer: &str) -> Judgement {
    let lower = answer.to_lowercase();
    let keywords = case
        .any
        .iter()
        .all(|group| group.iter().any(|w| contains_word(&lower, w)))
        && !case.none.iter().any(|w| contains_word(&lower, w));
    let repetition = repetition(answer);
    Judgement {
        keywords,
        repetition,
        degenerate: repetition > DEGENERATE_REPETITION,
        refused: refuses(answer),
    }
}

/// The share of `text`'s word 3-grams (lower-cased, punctuation dropped)
/// that already occurred earlier in it: 0 for text that never repeats a
/// phrase, towards 1 for a loop. Texts under four words score 0.
pub fn repetition(text: &str) -> f64 {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 4 {
        return 0.0;
    }
    let mut seen = std::collections::HashSet::new();
    let grams: Vec<&[&str]> = words.windows(3).collect();
    let repeated = grams.iter().filter(|g| !seen.insert(**g)).count();
    repeated as f64 / grams.len() as f64
}

/// `word` occurs in `lower` starting and ending at word boundaries (a
/// trailing `*` lifts the end boundary).
fn contains_word(lower: &str, word: &str) -> bool {
    let (word, prefix) = match word.strip_suffix('*') {
        Some(stem) => (stem.to_lowercase(), true),
        None => (word.to_lowercase(), false),
    };
    if word.is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    lower.match_indices(&word).any(|(at, _)| {
        boundary(lower[..at].chars().next_back()) && (prefix || boundary(lower[at + word.len()..].chars().next()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(any: &[&[&str]], none: &[&str]) -> AnswerCase {
        AnswerCase {
            id: "t".into(),
            kind: "factual".into(),
            messages: vec![],
            any: any.iter().map(|g| g.iter().map(|w| w.to_string()).collect()).collect(),
            none: none.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn keywords_match_whole_words_and_prefixes_with_a_star() {
        let c = case(&[&["paris"]], &["keller"]);
        assert!(judge(&c, "The capital of France is Paris.").passed());
        assert!(!judge(&c, "Parisian cafés are nice.").keywords, "not a whole word");
        assert!(!judge(&c, "Paris, says Mr Keller.").keywords, "a forbidden leftover");
        let c = case(&[&["apolog*"], &["meeting"]], &[]);
        assert!(judge(&c, "I apologise; I cannot attend the meeting.").passed());
        assert!(!judge(&c, "I apologise.").keywords, "every group must match");
        assert!(!contains_word("anything", "*"));
    }

    #[test]
    fn loops_are_degenerate_and_fluent_text_is_not() {
        let looped = "L'Étoile, la Marseillaise, la femme au martyre, la femme au martyre. La femme au martyre, la femme au martyre, la femme au martyre.";
        assert!(repetition(looped) > 0.5, "{}", repetition(looped));
        assert!(judge(&case(&[], &[]), looped).degenerate);
        let fluent = "The capital of France is Paris. It is known for the Eiffel Tower, its museums and the river Seine, which runs through the middle of the city.";
        assert_eq!(repetition(fluent), 0.0);
        assert_eq!(repetition("Paris."), 0.0);
    }

    #[test]
    fn refusals_do_not_pass_even_with_the_right_words() {
        let c = case(&[&["file"]], &[]);
        let refusal = "I'm sorry, but as an AI designed to assist with grammar, I don\u{2019}t have the capability to send the file.";
        let j = judge(&c, refusal);
        assert!(j.keywords && j.refused && !j.passed());
        assert!(judge(&c, "Could you please send the file again?").passed());
        assert!(refuses("I am unable to help with that."));
    }

    #[test]
    fn cases_parse_from_json_lines() {
        let cases = parse_cases(
            r#"{"id":"a","kind":"factual","messages":[{"role":"user","content":"2+2?"}],"any":[["4","four"]]}

{"id":"b","kind":"greeting","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases[1].any.is_empty() && cases[1].none.is_empty());
        assert!(parse_cases("{").unwrap_err().starts_with("line 1:"));
    }
}
