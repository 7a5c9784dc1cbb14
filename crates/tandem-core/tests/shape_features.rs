//! The tagger's word-shape bits are computed in Rust at run time and in
//! Python at training time (`pkg-scripts/ner_features.py`); a model only
//! works if both agree. The fixture holds Python's bits for mixed texts
//! (accents, all caps, JSON, bullets, code); regenerate it with
//! `python3 pkg-scripts/ner_features.py --fixture`.

use serde::Deserialize;
use tandem_core::shield::shape::{SHAPE_FEATURES, shapes};

#[derive(Deserialize)]
struct Case {
    text: String,
    /// Pieces as char offsets (Python's string indices).
    offsets: Vec<(usize, usize)>,
    bits: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
struct Fixture {
    names: Vec<String>,
    cases: Vec<Case>,
}

#[test]
fn rust_and_python_compute_the_same_bits() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/shape_features.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fixture.names, SHAPE_FEATURES);
    let mut pieces = 0;
    for case in &fixture.cases {
        let byte: Vec<usize> = case
            .text
            .char_indices()
            .map(|(b, _)| b)
            .chain([case.text.len()])
            .collect();
        let ranges: Vec<_> = case.offsets.iter().map(|&(s, e)| byte[s]..byte[e]).collect();
        let got = shapes(&case.text, &ranges);
        for ((shape, want), r) in got.iter().zip(&case.bits).zip(&ranges) {
            let got: Vec<u8> = (0..SHAPE_FEATURES.len()).map(|i| u8::from(shape.get(i))).collect();
            assert_eq!(&got, want, "piece {:?} of {:?}", &case.text[r.clone()], case.text);
        }
        assert_eq!(got.len(), case.bits.len());
        pieces += got.len();
    }
    assert!(pieces > 50, "the fixture covers too little: {pieces} pieces");
}
