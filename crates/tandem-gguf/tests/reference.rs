//! The reader against files written, and tensors dequantized, by the `gguf`
//! Python package (fixtures made by `pkg-scripts/gguf_fixtures.py`).

use serde::Deserialize;
use std::collections::BTreeMap;
use tandem_gguf::{GgmlType, Gguf, GgufError, Value};

const FILE: &[u8] = include_bytes!("fixtures/all_types.gguf");
const REFERENCE: &[u8] = include_bytes!("fixtures/all_types.f32");
const EXPECTED: &str = include_str!("fixtures/all_types.expected.json");

#[derive(Deserialize)]
struct Expected {
    metadata: BTreeMap<String, serde_json::Value>,
    arrays: BTreeMap<String, serde_json::Value>,
    tensors: Vec<ExpectedTensor>,
}

#[derive(Deserialize)]
struct ExpectedTensor {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    dims: Vec<u64>,
    ref_offset: usize,
    elements: usize,
}

fn expected() -> Expected {
    serde_json::from_str(EXPECTED).unwrap()
}

fn reference(offset: usize, n: usize) -> Vec<f32> {
    REFERENCE[offset * 4..(offset + n) * 4]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn metadata_of_every_value_type() {
    let gguf = Gguf::parse(FILE).unwrap();
    assert_eq!(gguf.version, 3);
    assert_eq!(gguf.get_str("general.architecture").unwrap(), "llama");
    let m = &gguf.metadata;
    assert_eq!(m["test.u8"], Value::U8(200));
    assert_eq!(m["test.i8"], Value::I8(-100));
    assert_eq!(m["test.u16"], Value::U16(60000));
    assert_eq!(m["test.i16"], Value::I16(-30000));
    assert_eq!(m["test.u32"], Value::U32(4_000_000_000));
    assert_eq!(m["test.i32"], Value::I32(-2_000_000_000));
    assert_eq!(m["test.f32"], Value::F32(0.5));
    assert_eq!(m["test.bool"], Value::Bool(true));
    assert_eq!(m["test.string"], Value::String("héllo 🎉".into()));
    assert_eq!(m["test.u64"], Value::U64((1 << 63) + 5));
    assert_eq!(m["test.i64"], Value::I64(-(1 << 62)));
    assert_eq!(m["test.f64"], Value::F64(-1.25));
    let exp = expected();
    assert_eq!(exp.metadata.len(), 12, "fixture lists every scalar type");
    let ints: Vec<i64> = gguf
        .get_array("test.array_i32")
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(serde_json::json!(ints), exp.arrays["test.array_i32"]);
    let strs: Vec<&str> = gguf
        .get_array("test.array_str")
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(serde_json::json!(strs), exp.arrays["test.array_str"]);
    assert!(matches!(gguf.get_u64("test.string"), Err(GgufError::Metadata { .. })));
    assert!(matches!(gguf.get("nope"), Err(GgufError::Metadata { .. })));
}

#[test]
fn every_type_dequantizes_like_the_reference() {
    let gguf = Gguf::parse(FILE).unwrap();
    let exp = expected();
    assert_eq!(gguf.tensors.len(), exp.tensors.len());
    for t in &exp.tensors {
        let info = gguf.tensor(&t.name).unwrap_or_else(|| panic!("{} missing", t.name));
        assert_eq!(format!("{:?}", info.ty), t.ty);
        assert_eq!(info.dims, t.dims);
        let ours = gguf.tensor_f32(info).unwrap();
        let theirs = reference(t.ref_offset, t.elements);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3))
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{}: worst relative difference {worst}", t.name);
    }
    let types: Vec<GgmlType> = gguf.tensors.iter().map(|t| t.ty).collect();
    assert!(types.contains(&GgmlType::Q6_K) && types.contains(&GgmlType::BF16));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    // The writer pads the file after the last tensor; cuts into that padding are still whole files.
    let data_end = Gguf::parse(FILE)
        .unwrap()
        .tensors
        .iter()
        .map(|t| t.offset + t.n_bytes)
        .max()
        .unwrap();
    for len in 0..FILE.len() {
        match Gguf::parse(&FILE[..len]) {
            Err(_) => assert!(len < data_end, "a whole file cut to {len} bytes was refused"),
            Ok(_) => assert!(
                len >= data_end,
                "a file cut to {len} bytes (data ends at {data_end}) parsed"
            ),
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Deterministic xorshift; flips bytes in the header and tensor infos.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let header_end = Gguf::parse(FILE).unwrap().tensors[0].offset;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = FILE.to_vec();
        for k in 0..1 + (state % 4) as usize {
            let at = ((state >> (8 * k)) as usize) % header_end;
            bytes[at] ^= 1 << ((state >> 40) % 8);
        }
        if let Ok(g) = Gguf::parse(bytes) {
            for t in &g.tensors {
                let _ = g.tensor_f32(t);
            }
        }
    }
}

#[test]
fn lying_counts_are_refused_before_allocating() {
    let mut header = b"GGUF".to_vec();
    header.extend(3u32.to_le_bytes());
    header.extend((1u64 << 60).to_le_bytes()); // tensors
    header.extend(0u64.to_le_bytes());
    assert!(matches!(
        Gguf::parse(header),
        Err(GgufError::Truncated {
            what: "tensor count",
            ..
        })
    ));

    let mut header = b"GGUF".to_vec();
    header.extend(3u32.to_le_bytes());
    header.extend(0u64.to_le_bytes());
    header.extend(1u64.to_le_bytes());
    header.extend(1u64.to_le_bytes());
    header.push(b'k');
    header.extend(9u32.to_le_bytes()); // array
    header.extend(8u32.to_le_bytes()); // of strings
    header.extend(u64::MAX.to_le_bytes()); // claimed length
    assert!(matches!(
        Gguf::parse(header),
        Err(GgufError::Truncated {
            what: "array length",
            ..
        })
    ));

    assert!(matches!(
        Gguf::parse(&b"GGML\x03\0\0\0"[..]),
        Err(GgufError::BadMagic(_))
    ));
    let mut v9 = b"GGUF".to_vec();
    v9.extend(9u32.to_le_bytes());
    assert_eq!(Gguf::parse(v9).unwrap_err(), GgufError::UnsupportedVersion(9));
}

#[test]
fn tensor_data_is_a_view_of_the_file_not_a_copy() {
    let file = tandem_gguf::Bytes::from(FILE.to_vec());
    let base = file.as_ptr() as usize;
    let gguf = Gguf::parse(file.clone()).unwrap();
    for t in &gguf.tensors {
        let data = gguf.tensor_data(t);
        assert_eq!(data.as_ptr() as usize, base + t.offset, "{}", t.name);
        assert_eq!(&data[..], gguf.tensor_bytes(t));
    }
}

/// A loader may rewrite tensors in place, without copying the file, only
/// where the parsed file owns its bytes; rewritten tensors are marked and
/// no longer dequantized as ggml's, and the others read as before.
#[test]
fn tensors_are_rewritten_in_place_only_in_an_owned_buffer() {
    let mut shared = Gguf::parse(FILE).unwrap();
    let view = shared.tensor_data(&shared.tensors[0]);
    assert_eq!(
        shared.rewrite_tensors(|_, _| unreachable!("shared bytes are never handed out")),
        None
    );
    drop(view);

    let mut owned = Gguf::parse(FILE.to_vec()).unwrap();
    let first = owned.tensors[0].clone();
    let second = owned.tensors[1].clone();
    let at = owned.tensor_bytes(&first).as_ptr();
    let untouched = owned.tensor_f32(&second).unwrap();
    let rewritten = owned.rewrite_tensors(|info, bytes| {
        if info.name != first.name {
            return false;
        }
        bytes.reverse();
        true
    });
    assert_eq!(rewritten, Some(1));
    assert_eq!(
        owned.tensor_bytes(&first).as_ptr(),
        at,
        "the file's own buffer, not a copy"
    );
    let mut reversed = FILE[first.offset..first.offset + first.n_bytes].to_vec();
    reversed.reverse();
    assert_eq!(owned.tensor_bytes(&first), &reversed[..]);
    assert!(owned.is_rewritten(&first) && !owned.is_rewritten(&second));
    assert!(matches!(owned.tensor_f32(&first), Err(GgufError::Rewritten(name)) if name == first.name));
    assert_eq!(owned.tensor_f32(&second).unwrap(), untouched);
}
