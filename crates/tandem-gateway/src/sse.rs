//! Incremental parsing of server-sent events (the `text/event-stream` of
//! streamed completions), for chunks split anywhere, even inside a UTF-8
//! character.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// A `data:`-only event.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }

    /// The event as it goes on the wire, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        if let Some(e) = &self.event {
            out.push_str("event: ");
            out.push_str(e);
            out.push('\n');
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out.into_bytes()
    }
}

/// Why a stream is not valid server-sent events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line is not UTF-8.
    #[error("the event stream is not UTF-8")]
    Utf8,
    /// A line grew past the limit without ending.
    #[error("an event stream line exceeds {0} bytes")]
    LineTooLong(usize),
    /// An event's `data:` lines together grew past the limit before the blank line that ends it.
    #[error("an event exceeds {0} bytes")]
    EventTooLarge(usize),
}

/// Turns byte chunks into events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

/// Longest line accepted (a guard against an upstream that never sends a newline).
pub const MAX_LINE: usize = 4 << 20;
/// Largest event accepted (a guard against an upstream that sends `data:`
/// lines and never the blank line that ends the event).
pub const MAX_EVENT: usize = 4 << 20;

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let line = &self.buf[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = std::str::from_utf8(line).map_err(|_| SseError::Utf8)?.to_owned();
            start = end + 1;
            if let Some(event) = self.line(&line)? {
                events.push(event);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(SseError::LineTooLong(MAX_LINE));
        }
        Ok(events)
    }

    /// Whether bytes of an unfinished event are buffered.
    pub fn is_mid_event(&self) -> bool {
        !self.buf.is_empty() || self.has_data || self.current.event.is_some()
    }

    fn line(&mut self, line: &str) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.current);
            let had = std::mem::replace(&mut self.has_data, false);
            return Ok(had.then_some(event));
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.current.data.len() + value.len() + 1 > MAX_EVENT {
                    return Err(SseError::EventTooLarge(MAX_EVENT));
                }
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_owned()),
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &str = ": keep-alive\r\ndata: {\"a\":\"é\"}\r\n\r\nevent: x\ndata: 1\ndata: 2\n\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent::data("{\"a\":\"é\"}"),
            SseEvent {
                event: Some("x".into()),
                data: "1\n2".into(),
            },
            SseEvent::data("[DONE]"),
        ]
    }

    #[test]
    fn parses_fields_comments_and_crlf() {
        let mut p = SseParser::new();
        assert_eq!(p.push(STREAM.as_bytes()).unwrap(), expected());
        assert!(!p.is_mid_event());
    }

    #[test]
    fn events_round_trip_through_to_bytes() {
        let mut p = SseParser::new();
        let bytes: Vec<u8> = expected().iter().flat_map(SseEvent::to_bytes).collect();
        assert_eq!(p.push(&bytes).unwrap(), expected());
    }

    #[test]
    fn unfinished_events_and_bad_bytes_are_reported() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: partial").unwrap().is_empty());
        assert!(p.is_mid_event());
        assert_eq!(SseParser::new().push(b"data: \xff\n\n"), Err(SseError::Utf8));
    }

    #[test]
    fn an_event_that_never_ends_is_refused_at_the_cap() {
        let mut p = SseParser::new();
        let line = format!("data: {}\n", "x".repeat(60_000));
        let mut result = Ok(Vec::new());
        let mut fed = 0;
        while result.is_ok() && fed <= MAX_EVENT + line.len() {
            result = p.push(line.as_bytes());
            fed += line.len();
        }
        assert_eq!(result, Err(SseError::EventTooLarge(MAX_EVENT)));
        assert!(fed <= MAX_EVENT + line.len(), "refused within one line of the cap");
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(cuts in proptest::collection::vec(0usize..STREAM.len(), 0..8)) {
            let bytes = STREAM.as_bytes();
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut p = SseParser::new();
            let mut events = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                events.extend(p.push(&bytes[last..c]).unwrap());
                last = c;
            }
            prop_assert_eq!(events, expected());
        }
    }
}
