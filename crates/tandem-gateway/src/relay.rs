//! Relaying a streamed completion: event by event, unbuffered, and never a
//! silent truncation. A broken connection, an idle upstream, malformed
//! events or a stream that ends without `[DONE]` end the relay with an
//! explicit error event in OpenAI's shape (which OpenAI clients raise).

use crate::host::{ByteStream, Host};
use crate::sse::{SseEvent, SseParser};
use futures_util::future::{Either, LocalBoxFuture, select};
use futures_util::{StreamExt, stream};
use std::collections::VecDeque;
use std::pin::{Pin, pin};
use std::rc::Rc;
use tandem_protocol::openai::{ErrorBody, Usage};

/// How a relayed stream ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayEnd {
    /// `[DONE]` arrived.
    Done,
    /// The upstream connection broke.
    Broken,
    /// The upstream closed without `[DONE]`.
    EndedEarly,
    /// No bytes for the idle timeout.
    Idle,
    /// An event that is not JSON, or bytes that are not SSE.
    Malformed,
}

impl RelayEnd {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RelayEnd::Done => "done",
            RelayEnd::Broken => "upstream_broken",
            RelayEnd::EndedEarly => "upstream_ended_early",
            RelayEnd::Idle => "upstream_idle",
            RelayEnd::Malformed => "upstream_malformed",
        }
    }
}

/// The error event that ends a failed stream.
pub(crate) fn error_event(code: &str, message: &str) -> Vec<u8> {
    let body = ErrorBody::new("upstream_error", code, message);
    SseEvent::data(serde_json::to_string(&body).unwrap_or_default()).to_bytes()
}

struct State<H: Host> {
    host: Rc<H>,
    upstream: ByteStream,
    first: Option<Vec<u8>>,
    parser: SseParser,
    queue: VecDeque<Vec<u8>>,
    idle_ms: u64,
    end: Option<RelayEnd>,
    hide_usage: bool,
    usage: Option<Usage>,
    on_end: Option<OnEnd>,
    /// What `on_end` left to do; the stream closes once it is done.
    closing: Option<LocalBoxFuture<'static, ()>>,
}

/// Told how a stream ended and what usage it reported; may leave work to finish.
type OnEnd = Box<dyn FnOnce(RelayEnd, Option<Usage>) -> Option<LocalBoxFuture<'static, ()>>>;

impl<H: Host> State<H> {
    fn finish(&mut self, end: RelayEnd, error: Option<(&str, String)>) {
        if let Some((code, message)) = error {
            self.queue.push_back(error_event(code, &message));
        }
        self.end = Some(end);
        if let Some(f) = self.on_end.take() {
            self.closing = f(end, self.usage);
        }
    }

    fn take_chunk(&mut self, chunk: &[u8]) {
        let events = match self.parser.push(chunk) {
            Ok(events) => events,
            Err(e) => return self.finish(RelayEnd::Malformed, Some(("upstream_malformed", e.to_string()))),
        };
        for event in events {
            if event.data == "[DONE]" {
                self.queue.push_back(event.to_bytes());
                return self.finish(RelayEnd::Done, None);
            }
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&event.data) else {
                return self.finish(
                    RelayEnd::Malformed,
                    Some((
                        "upstream_malformed",
                        "the upstream sent an event that is not JSON".into(),
                    )),
                );
            };
            if let Some(usage) = Usage::of(&value) {
                self.usage = Some(usage);
                let usage_only = value["choices"].as_array().is_some_and(Vec::is_empty);
                if self.hide_usage && usage_only {
                    continue;
                }
            }
            self.queue.push_back(event.to_bytes());
        }
    }
}

/// Relays `upstream` (whose first chunk, already read, is `first`) as a
/// stream of complete events, calling `on_end` once when it ends with the
/// last `usage` an event carried (and awaiting what it returns before the
/// stream closes). With `hide_usage`, an event that carries
/// only usage (no choices) is read but not relayed.
pub(crate) fn relay<H: Host + 'static>(
    host: Rc<H>,
    first: Vec<u8>,
    upstream: ByteStream,
    idle_ms: u64,
    hide_usage: bool,
    on_end: impl FnOnce(RelayEnd, Option<Usage>) -> Option<LocalBoxFuture<'static, ()>> + 'static,
) -> Pin<Box<dyn futures_util::Stream<Item = Vec<u8>>>> {
    let state = State {
        host,
        upstream,
        first: Some(first),
        parser: SseParser::new(),
        queue: VecDeque::new(),
        idle_ms,
        end: None,
        hide_usage,
        usage: None,
        on_end: Some(Box::new(on_end)),
        closing: None,
    };
    Box::pin(stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.queue.pop_front() {
                return Some((item, s));
            }
            if s.end.is_some() {
                if let Some(closing) = s.closing.take() {
                    closing.await;
                }
                return None;
            }
            if let Some(first) = s.first.take() {
                s.take_chunk(&first);
                continue;
            }
            let next = {
                let host = Rc::clone(&s.host);
                let timer = pin!(host.sleep(s.idle_ms));
                match select(s.upstream.next(), timer).await {
                    Either::Left((next, _)) => Some(next),
                    Either::Right(_) => None,
                }
            };
            match next {
                Some(Some(Ok(chunk))) => s.take_chunk(&chunk),
                Some(Some(Err(e))) => s.finish(
                    RelayEnd::Broken,
                    Some((
                        "upstream_broken",
                        format!("the upstream connection failed mid-stream: {e}"),
                    )),
                ),
                Some(None) => s.finish(
                    RelayEnd::EndedEarly,
                    Some((
                        "upstream_ended_early",
                        "the upstream ended the stream before [DONE]".into(),
                    )),
                ),
                None => {
                    let ms = s.idle_ms;
                    s.finish(
                        RelayEnd::Idle,
                        Some(("upstream_idle", format!("the upstream sent nothing for {ms} ms"))),
                    )
                }
            }
        }
    }))
}
