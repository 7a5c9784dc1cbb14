//! Bad and huge input: the shield answers correctly, in linear time, without
//! panicking. (No timing assertions: a quadratic path would not finish.)

use tandem_core::EntityKind;
use tandem_core::shield::{Redactor, Shield, StreamRestorer, restore};

#[test]
fn ten_megabytes_of_text_are_redacted_completely() {
    let sentence = "Mail jane.doe@example.com or call +44 20 7946 0958 about card 4111 1111 1111 1111. ";
    let repeats = 10_000_000 / sentence.len() + 1;
    let text = sentence.repeat(repeats);
    let mut redactor = Redactor::new(Shield::default());
    let out = redactor.redact(&text).unwrap();
    assert_eq!(out.entities.len(), 3 * repeats);
    assert_eq!(
        out.text,
        "Mail [EMAIL_1] or call [PHONE_1] about card [CARD_1]. ".repeat(repeats)
    );
    assert_eq!(redactor.restore(&out.text), text);
}

#[test]
fn pathological_inputs_finish_with_correct_answers() {
    const MB: usize = 1 << 20;
    let cases: [(&str, usize); 10] = [
        ("1 ", 0),
        ("12-", 0),
        ("a@", 0),
        ("a.", 0),
        ("a at b dot ", 0),
        ("[EMAIL_", 0),
        ("-----BEGIN PRIVATE KEY-----", 1),
        ("::", 0),
        ("password: ", 0),
        ("9", 0),
    ];
    for (unit, expected) in cases {
        let text = unit.repeat(2 * MB / unit.len());
        let spans = Shield::default().analyze(&text).unwrap();
        assert_eq!(spans.len(), expected, "{unit:?} repeated");
    }
}

#[test]
fn empty_and_whitespace_inputs() {
    let mut r = Redactor::new(Shield::default());
    for text in ["", " ", "\n\n\t", "\u{feff}"] {
        let out = r.redact(text).unwrap();
        assert_eq!(out.text, text);
        assert!(out.entities.is_empty());
    }
    assert_eq!(restore("", r.vault()), "");
    assert_eq!(StreamRestorer::new(r.vault().clone()).finish(), "");
}

#[test]
fn control_characters_and_mixed_scripts_do_not_confuse_offsets() {
    let text = "\u{0}Ünïcödé 🎉 mail: 名前@例え.jp\u{7}, card\u{200b} 4111111111111111 €";
    let spans = Shield::default().analyze(text).unwrap();
    let kinds: Vec<_> = spans.iter().map(|s| (s.kind, s.text(text))).collect();
    assert_eq!(
        kinds,
        [
            (EntityKind::EmailAddress, "名前@例え.jp"),
            (EntityKind::CreditCard, "4111111111111111")
        ]
    );
}
