//! The sealed channel end to end in Rust: requests and streamed responses
//! round-trip, and tampered, replayed, reordered or truncated messages are refused.

use proptest::prelude::*;
use tandem_seal::{ReplayWindow, SealError, ServerKey, ServerKeys, open_request, seal_request};

fn keys() -> ServerKeys {
    ServerKeys::new(vec![ServerKey::generate(7).0]).unwrap()
}

/// A sealed request, opened by the server, and a 4-chunk response as frames.
fn exchange(keys: &ServerKeys) -> (tandem_seal::ResponseOpener, Vec<Vec<u8>>) {
    let config = &keys.configs(0.0).keys[0];
    let sealed = seal_request(config, b"{\"path\":\"/v1/chat/completions\"}").unwrap();
    let mut opened = open_request(keys, &sealed.body, 0.0).unwrap();
    assert_eq!(opened.plaintext, b"{\"path\":\"/v1/chat/completions\"}");
    let frames = ["head", "one", "two", ""]
        .iter()
        .enumerate()
        .map(|(i, t)| opened.sealer.seal_chunk(t.as_bytes(), i == 3))
        .collect();
    (sealed.opener, frames)
}

fn open_all(mut opener: tandem_seal::ResponseOpener, frames: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, SealError> {
    let mut out = Vec::new();
    for f in frames {
        out.extend(opener.push(f)?);
    }
    opener.finish()?;
    Ok(out)
}

#[test]
fn a_response_round_trips_chunk_by_chunk() {
    let (opener, frames) = exchange(&keys());
    let chunks = open_all(opener, &frames).unwrap();
    assert_eq!(chunks, vec![b"head".to_vec(), b"one".to_vec(), b"two".to_vec(), vec![]]);
}

#[test]
fn reordered_dropped_duplicated_or_truncated_chunks_are_refused() {
    let k = keys();
    let (opener, mut frames) = exchange(&k);
    // The first frame carries the response nonce: keep it first, swap two later ones.
    frames.swap(1, 2);
    assert_eq!(open_all(opener, &frames), Err(SealError::Decrypt));

    let (opener, mut frames) = exchange(&k);
    frames.remove(2);
    assert_eq!(open_all(opener, &frames), Err(SealError::Decrypt));

    let (opener, mut frames) = exchange(&k);
    let dup = frames[1].clone();
    frames.insert(2, dup);
    assert_eq!(open_all(opener, &frames), Err(SealError::Decrypt));

    let (opener, frames) = exchange(&k);
    assert_eq!(open_all(opener, &frames[..3]), Err(SealError::Truncated));

    let (opener, mut frames) = exchange(&k);
    frames.push(frames[3].clone());
    assert!(open_all(opener, &frames).is_err(), "data after the final chunk");
}

#[test]
fn any_flipped_response_bit_is_refused() {
    let k = keys();
    let (_, frames) = exchange(&k);
    let total: usize = frames.iter().map(Vec::len).sum();
    for bit in (0..total * 8).step_by(7) {
        let (opener, frames) = exchange(&k);
        let mut bytes: Vec<u8> = frames.concat();
        bytes[bit / 8] ^= 1 << (bit % 8);
        assert!(open_all(opener, &[bytes]).is_err(), "bit {bit}");
    }
}

#[test]
fn tampered_requests_and_foreign_keys_are_refused() {
    let k = keys();
    let config = &k.configs(0.0).keys[0];
    let sealed = seal_request(config, b"hello").unwrap();
    for i in [0, 3, 10, sealed.body.len() - 1] {
        let mut body = sealed.body.clone();
        body[i] ^= 0x20;
        assert!(open_request(&k, &body, 0.0).is_err(), "byte {i}");
    }
    assert!(matches!(
        open_request(&keys(), &sealed.body, 0.0),
        Err(SealError::UnknownKey(7) | SealError::Decrypt)
    ));
    assert_eq!(
        open_request(&k, &sealed.body[..20], 0.0).unwrap_err(),
        SealError::Malformed("too short")
    );
}

#[test]
fn replayed_and_stale_requests_are_refused() {
    let k = keys();
    let config = &k.configs(0.0).keys[0];
    let sealed = seal_request(config, b"x").unwrap();
    let mut window = ReplayWindow::new(60_000.0);
    let enc = open_request(&k, &sealed.body, 0.0).unwrap().enc;
    assert_eq!(window.check(&enc, 1_000.0, 1_500.0), Ok(()));
    assert_eq!(window.check(&enc, 1_000.0, 1_600.0), Err(SealError::Replay));
    let other = open_request(&k, &seal_request(config, b"y").unwrap().body, 0.0)
        .unwrap()
        .enc;
    assert_eq!(
        window.check(&other, 1_000.0, 120_000.0),
        Err(SealError::Replay),
        "stale"
    );
}

#[test]
fn old_keys_work_until_retired_and_new_clients_get_the_new_key() {
    let (old, old_secret) = ServerKey::generate(1);
    let (new, new_secret) = ServerKey::generate(2);
    let before = ServerKeys::new(vec![old.clone()]).unwrap();
    let old_config = before.configs(0.0).keys[0].clone();
    let rotated = ServerKeys::new(vec![
        ServerKey::from_secret(2, &new_secret, None).unwrap(),
        ServerKey::from_secret(1, &old_secret, Some(10_000.0)).unwrap(),
    ])
    .unwrap();
    assert_eq!(
        rotated.configs(0.0).keys[0],
        new.config(),
        "the new key is offered first"
    );
    let sealed = seal_request(&old_config, b"during the grace period").unwrap();
    assert!(open_request(&rotated, &sealed.body, 5_000.0).is_ok());
    assert_eq!(
        open_request(&rotated, &sealed.body, 20_000.0).unwrap_err(),
        SealError::UnknownKey(1)
    );
    assert_eq!(
        rotated.configs(20_000.0).keys.len(),
        1,
        "retired keys are no longer published"
    );
}

proptest! {
    #[test]
    fn any_split_of_the_bytes_opens_the_same(cuts in proptest::collection::vec(0usize..200, 0..6)) {
        let (mut opener, frames) = exchange(&keys());
        let bytes = frames.concat();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            chunks.extend(opener.push(&bytes[last..c]).unwrap());
            last = c;
        }
        prop_assert!(opener.finish().is_ok());
        prop_assert_eq!(chunks.len(), 4);
    }
}

/// A sealer and the opener of its response.
fn pair() -> (tandem_seal::ResponseSealer, tandem_seal::ResponseOpener) {
    let keys = keys();
    let sealed = seal_request(&keys.configs(0.0).keys[0], b"{}").unwrap();
    (open_request(&keys, &sealed.body, 0.0).unwrap().sealer, sealed.opener)
}

#[test]
fn token_events_of_different_lengths_seal_to_the_same_size() {
    let (mut sealer, _) = pair();
    let _first = sealer.seal_chunk(b"", false); // carries the response nonce
    let event = |token: &str| {
        format!(r#"data: {{"id":"chatcmpl-1","choices":[{{"index":0,"delta":{{"content":"{token}"}}}}]}}"#) + "\n\n"
    };
    let sizes: Vec<usize> = ["a", "the", " unbelievably", " 🎉🎉🎉", &"x".repeat(120)]
        .iter()
        .map(|t| sealer.seal_chunk(event(t).as_bytes(), false).len())
        .collect();
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    assert_eq!(sizes[0], 4 + 256 + 16, "length prefix, one 256-byte bucket, tag");
}

#[test]
fn data_of_any_size_seals_to_records_the_opener_accepts() {
    let (mut sealer, mut opener) = pair();
    // Over the opener's 16 MiB record limit in one piece: split into 1 MiB records.
    let big: Vec<u8> = (0..17 << 20).map(|i| (i % 251) as u8).collect();
    let mut wire = sealer.seal_chunk(&big, false);
    wire.extend(sealer.seal_chunk(b"tail\0\0", true));
    let mut opened = Vec::new();
    for piece in wire.chunks(777_777) {
        opened.extend(opener.push(piece).unwrap());
    }
    opener.finish().unwrap();
    assert_eq!(opened.len(), 18, "17 records of 1 MiB and the tail");
    assert!(opened[..17].iter().all(|r| r.len() == 1 << 20));
    assert_eq!(opened[..17].concat(), big);
    assert_eq!(opened[17], b"tail\0\0", "zeros in the data survive the padding");
}

#[test]
fn padding_overhead_on_a_streamed_reply_is_bounded() {
    // A 300-token streamed reply in OpenAI's chunk format, sealed one event per record.
    let (mut sealer, _) = pair();
    let words = [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
    ];
    let mut plain = 0;
    let mut sealed = sealer.seal_chunk(b"{\"status\":200,\"headers\":{}}", false).len();
    for i in 0..300 {
        let event = format!(
            "data: {{\"id\":\"chatcmpl-9a8b7c\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"finish_reason\":null}}]}}\n\n",
            words[i % words.len()]
        );
        plain += event.len();
        sealed += sealer.seal_chunk(event.as_bytes(), false).len();
    }
    sealed += sealer.seal_chunk(b"", true).len();
    let ratio = sealed as f64 / plain as f64;
    println!("padding overhead: {plain} plain bytes, {sealed} sealed bytes, {ratio:.2}x");
    assert!(ratio < 1.6, "{ratio}");
}
