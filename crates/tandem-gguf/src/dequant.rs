//! ggml block formats to `f32`, following ggml's reference `dequantize_row_*`.

use crate::{GgmlType, GgufError};
use half::{bf16, f16};

/// Dequantizes `elements` values of type `ty` stored in `data`.
///
/// `data` must be exactly the bytes of those elements (whole blocks).
pub fn dequantize(ty: GgmlType, data: &[u8], elements: usize) -> Result<Vec<f32>, GgufError> {
    let expected = ty.bytes_for(elements as u64).unwrap_or(u64::MAX);
    if data.len() as u64 != expected {
        return Err(GgufError::DataLength {
            ty,
            elements,
            expected: expected as usize,
            got: data.len(),
        });
    }
    let mut out = Vec::with_capacity(elements);
    let blocks = data.chunks_exact(ty.block_bytes());
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| f16_at(b, 0))),
        GgmlType::BF16 => out.extend(blocks.map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())),
        GgmlType::Q8_0 => blocks.for_each(|b| q8_0(b, &mut out)),
        GgmlType::Q4_0 => blocks.for_each(|b| q4_0(b, &mut out)),
        GgmlType::Q4_1 => blocks.for_each(|b| q4_1(b, &mut out)),
        GgmlType::Q5_0 => blocks.for_each(|b| q5_0(b, &mut out)),
        GgmlType::Q4_K => blocks.for_each(|b| q4_k(b, &mut out)),
        GgmlType::Q5_K => blocks.for_each(|b| q5_k(b, &mut out)),
        GgmlType::Q6_K => blocks.for_each(|b| q6_k(b, &mut out)),
        other => return Err(GgufError::UnsupportedType(other)),
    }
    Ok(out)
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// `d: f16, qs: [i8; 32]`; x = q·d.
fn q8_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// `d: f16, qs: [u8; 16]`; low nibbles are elements 0..16, high 16..32; x = (q − 8)·d.
fn q4_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    out.extend(qs.iter().map(|&q| (f32::from(q & 0x0F) - 8.0) * d));
    out.extend(qs.iter().map(|&q| (f32::from(q >> 4) - 8.0) * d));
}

/// `d: f16, m: f16, qs: [u8; 16]`; x = q·d + m.
fn q4_1(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qs = &b[4..20];
    out.extend(qs.iter().map(|&q| f32::from(q & 0x0F) * d + m));
    out.extend(qs.iter().map(|&q| f32::from(q >> 4) * d + m));
}

/// `d: f16, qh: u32, qs: [u8; 16]`; the fifth bit of element j is bit j of qh; x = (q − 16)·d.
fn q5_0(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for (j, &q) in qs.iter().enumerate() {
        let hi = ((qh >> j) << 4) & 0x10;
        out.push((f32::from((q & 0x0F) | hi as u8) - 16.0) * d);
    }
    for (j, &q) in qs.iter().enumerate() {
        let hi = (qh >> (j + 12)) & 0x10;
        out.push((f32::from((q >> 4) | hi as u8) - 16.0) * d);
    }
}

use crate::k_scale::k_scale_min;

/// [`k_scale_min`] as floats.
fn scale_min_k4(j: usize, s: &[u8]) -> (f32, f32) {
    let (sc, m) = k_scale_min(j, s);
    (f32::from(sc), f32::from(m))
}

/// `d, dmin: f16, scales: [u8; 12], qs: [u8; 128]`: eight sub-blocks of 32.
fn q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        out.extend(q.iter().map(|&x| d * sc1 * f32::from(x & 0x0F) - dmin * m1));
        out.extend(q.iter().map(|&x| d * sc2 * f32::from(x >> 4) - dmin * m2));
    }
}

/// `d, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`.
fn q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (chunk, ql) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        for (l, &x) in ql.iter().enumerate() {
            let hi = if qh[l] & u1 != 0 { 16.0 } else { 0.0 };
            out.push(d * sc1 * (f32::from(x & 0x0F) + hi) - dmin * m1);
        }
        for (l, &x) in ql.iter().enumerate() {
            let hi = if qh[l] & u2 != 0 { 16.0 } else { 0.0 };
            out.push(d * sc2 * (f32::from(x >> 4) + hi) - dmin * m2);
        }
    }
}

/// `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`: two halves of 128.
fn q6_k(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &b[64 * half..64 * half + 64];
        let qh = &b[128 + 32 * half..128 + 32 * half + 32];
        let sc = &b[192 + 8 * half..192 + 8 * half + 8];
        let mut y = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * f32::from(sc[is] as i8) * q1 as f32;
            y[l + 32] = d * f32::from(sc[is + 2] as i8) * q2 as f32;
            y[l + 64] = d * f32::from(sc[is + 4] as i8) * q3 as f32;
            y[l + 96] = d * f32::from(sc[is + 6] as i8) * q4 as f32;
        }
        out.extend_from_slice(&y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_bits().to_le_bytes()
    }

    #[test]
    fn q8_0_and_q4_0_by_hand() {
        let mut block = f16_bytes(0.5).to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let x = dequantize(GgmlType::Q8_0, &block, 32).unwrap();
        assert_eq!(x[0], -8.0);
        assert_eq!(x[31], 7.5);

        let mut block = f16_bytes(2.0).to_vec();
        block.extend([0x1Fu8; 16]); // low nibble 15, high nibble 1
        let x = dequantize(GgmlType::Q4_0, &block, 32).unwrap();
        assert_eq!(&x[..2], &[14.0, 14.0]);
        assert_eq!(&x[16..18], &[-14.0, -14.0]);
    }

    #[test]
    fn wrong_lengths_and_unsupported_types_are_errors() {
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 33], 32),
            Err(GgufError::DataLength { .. })
        ));
        assert!(matches!(
            dequantize(GgmlType::Q4_K, &[0; 144], 255),
            Err(GgufError::DataLength { .. })
        ));
        assert_eq!(
            dequantize(GgmlType::Q2_K, &[0; 84], 256),
            Err(GgufError::UnsupportedType(GgmlType::Q2_K))
        );
    }
}
