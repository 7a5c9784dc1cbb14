//! Parsing the header, metadata and tensor infos.

use crate::{GgmlType, GgufError, Value};
use bytes::Bytes;
use std::collections::{BTreeMap, HashSet};

const MAGIC: &[u8; 4] = b"GGUF";
/// ggml supports at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are refused (no real file nests at all).
const MAX_NESTING: u32 = 3;
/// Default data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor's description; its bytes are at `offset..offset + n_bytes` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` varies fastest (columns of a matrix).
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Absolute byte offset in the file.
    pub offset: usize,
    /// Size in bytes.
    pub n_bytes: usize,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }
}

/// A parsed GGUF file holding its bytes.
///
/// The bytes are shared, never copied: a caller that read the file into a
/// `Vec`, or mapped it, hands them over, and [`Gguf::tensor_data`] gives out
/// views of them, so a model's quantized weights are the file's own pages.
#[derive(Clone)]
pub struct Gguf {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor infos, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment in bytes.
    pub alignment: u64,
    bytes: Bytes,
    /// Indices into `tensors` of those [`Gguf::rewrite_tensors`] rewrote:
    /// their bytes are no longer in ggml's layout.
    rewritten: Vec<usize>,
}

impl std::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Gguf {
    /// Parses the header, metadata and tensor infos of `bytes` (a `Vec<u8>`,
    /// a `&'static [u8]` or a [`Bytes`] over a mapped file) and checks that
    /// every tensor lies inside the data section.
    pub fn parse(bytes: impl Into<Bytes>) -> Result<Self, GgufError> {
        let bytes: Bytes = bytes.into();
        let mut r = Reader { bytes: &bytes, pos: 0 };
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic([magic[0], magic[1], magic[2], magic[3]]));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // Every tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes, every key/value 8 + 4 + 1.
        let n_tensors = r.count("tensor count", 32)?;
        let n_kv = r.count("metadata count", 13)?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let ty = r.u32("metadata value type")?;
            let value = r.value(ty, &key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(GgufError::Metadata {
                        key: "general.alignment".into(),
                        reason: format!("{v:?} is not a power of two up to 1 MiB"),
                    });
                }
            },
        };

        let mut raw = Vec::with_capacity(n_tensors);
        let mut names = HashSet::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = r.string("tensor name")?;
            let n_dims = r.u32("tensor dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(bad(&name, format!("{n_dims} dimensions (ggml allows 1 to {MAX_DIMS})")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dimension")?);
            }
            let id = r.u32("tensor type")?;
            let ty = GgmlType::from_id(id).ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), id })?;
            let offset = r.u64("tensor offset")?;
            if !names.insert(name.clone()) {
                return Err(bad(&name, "appears twice".into()));
            }
            raw.push((name, dims, ty, offset));
        }
        let data_start = align(r.pos as u64, alignment);
        let data_len = (bytes.len() as u64).saturating_sub(data_start);

        let tensors = raw
            .into_iter()
            .map(|(name, dims, ty, offset)| {
                let elements = dims
                    .iter()
                    .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                    .ok_or_else(|| bad(&name, format!("shape {dims:?} overflows")))?;
                let n_bytes = ty.bytes_for(elements).ok_or_else(|| {
                    bad(
                        &name,
                        format!(
                            "{elements} elements are not whole {}-element blocks of {ty:?}",
                            ty.block_size()
                        ),
                    )
                })?;
                if offset % alignment != 0 {
                    return Err(bad(&name, format!("offset {offset} is not aligned to {alignment}")));
                }
                match offset.checked_add(n_bytes) {
                    Some(end) if end <= data_len => {}
                    _ => {
                        return Err(bad(
                            &name,
                            format!("data {offset}..{offset}+{n_bytes} lies outside the {data_len}-byte data section"),
                        ));
                    }
                }
                Ok(TensorInfo {
                    name,
                    dims,
                    ty,
                    offset: (data_start + offset) as usize,
                    n_bytes: n_bytes as usize,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Gguf {
            version,
            metadata,
            tensors,
            alignment,
            bytes,
            rewritten: Vec::new(),
        })
    }

    /// Lets `rewrite` change tensors' bytes in place, without a copy of the
    /// file, where this `Gguf` holds the only reference to its bytes (as
    /// after parsing an owned buffer, before any tensor view is taken):
    /// how a loader moves weights into the layout its kernels read, keeping
    /// one copy of each in memory. `rewrite` is called with every tensor and
    /// returns whether it rewrote it; those tensors are then marked
    /// ([`Gguf::is_rewritten`]) and [`Gguf::tensor_f32`] refuses them.
    /// Returns the number rewritten, or `None` (nothing called) where the
    /// bytes are shared.
    pub fn rewrite_tensors(&mut self, mut rewrite: impl FnMut(&TensorInfo, &mut [u8]) -> bool) -> Option<usize> {
        let bytes = std::mem::take(&mut self.bytes);
        let mut owned = match bytes.try_into_mut() {
            Ok(owned) => owned,
            Err(shared) => {
                self.bytes = shared;
                return None;
            }
        };
        let before = self.rewritten.len();
        for (i, info) in self.tensors.iter().enumerate() {
            if rewrite(info, &mut owned[info.offset..info.offset + info.n_bytes]) && !self.rewritten.contains(&i) {
                self.rewritten.push(i);
            }
        }
        self.bytes = owned.freeze();
        Some(self.rewritten.len() - before)
    }

    /// Whether [`Gguf::rewrite_tensors`] rewrote `info`'s bytes.
    pub fn is_rewritten(&self, info: &TensorInfo) -> bool {
        self.rewritten
            .iter()
            .any(|&i| self.tensors.get(i).is_some_and(|t| t.name == info.name))
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor (bounds were checked by [`Self::parse`]).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        &self.bytes[info.offset..info.offset + info.n_bytes]
    }

    /// The raw bytes of a tensor as a view that shares the file's buffer:
    /// how a weight matrix is kept without a copy.
    pub fn tensor_data(&self, info: &TensorInfo) -> Bytes {
        self.bytes.slice(info.offset..info.offset + info.n_bytes)
    }

    /// Dequantizes a tensor to `f32`, in ggml element order; refused for a
    /// tensor [`Gguf::rewrite_tensors`] rewrote, which only its rewriter reads.
    pub fn tensor_f32(&self, info: &TensorInfo) -> Result<Vec<f32>, GgufError> {
        if self.is_rewritten(info) {
            return Err(GgufError::Rewritten(info.name.clone()));
        }
        crate::dequantize(info.ty, self.tensor_bytes(info), info.elements())
    }

    /// A required metadata value.
    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata.get(key).ok_or_else(|| meta(key, "missing"))
    }

    /// A required unsigned integer (any width).
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.get(key)?;
        v.as_u64()
            .ok_or_else(|| meta(key, &format!("expected an unsigned integer, found {v:?}")))
    }

    /// A required float (or integer).
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.get(key)?;
        v.as_f64()
            .ok_or_else(|| meta(key, &format!("expected a number, found {v:?}")))
    }

    /// A required string.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.get(key)?;
        v.as_str()
            .ok_or_else(|| meta(key, &format!("expected a string, found {v:?}")))
    }

    /// A required array.
    pub fn get_array(&self, key: &str) -> Result<&[Value], GgufError> {
        let v = self.get(key)?;
        v.as_array().ok_or_else(|| meta(key, "expected an array"))
    }
}

fn bad(name: &str, reason: String) -> GgufError {
    GgufError::BadTensor {
        name: name.to_owned(),
        reason,
    }
}

fn meta(key: &str, reason: &str) -> GgufError {
    GgufError::Metadata {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        let available = self.remaining();
        if n > available as u64 {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of items of at least `min_item_bytes` each: refused when the
    /// rest of the file could not hold that many, before anything is allocated.
    fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<usize, GgufError> {
        let offset = self.pos;
        let n = self.u64(what)?;
        let available = self.remaining();
        match n.checked_mul(min_item_bytes) {
            Some(need) if need <= available as u64 => Ok(n as usize),
            _ => Err(GgufError::Truncated {
                what,
                offset,
                needed: n.saturating_mul(min_item_bytes),
                available,
            }),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let offset = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| GgufError::InvalidUtf8 { what, offset })
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>("u8 value")?[0]),
            1 => Value::I8(self.array::<1>("i8 value")?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array("u16 value")?)),
            3 => Value::I16(i16::from_le_bytes(self.array("i16 value")?)),
            4 => Value::U32(self.u32("u32 value")?),
            5 => Value::I32(i32::from_le_bytes(self.array("i32 value")?)),
            6 => Value::F32(f32::from_le_bytes(self.array("f32 value")?)),
            7 => Value::Bool(self.array::<1>("bool value")?[0] != 0),
            8 => Value::String(self.string("string value")?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(GgufError::TooDeep(key.to_owned()));
                }
                let elem_ty = self.u32("array element type")?;
                let min = min_value_bytes(elem_ty).ok_or_else(|| GgufError::UnknownValueType {
                    key: key.into(),
                    id: elem_ty,
                })?;
                let n = self.count("array length", min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem_ty, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64("u64 value")?),
            11 => Value::I64(i64::from_le_bytes(self.array("i64 value")?)),
            12 => Value::F64(f64::from_le_bytes(self.array("f64 value")?)),
            id => return Err(GgufError::UnknownValueType { key: key.into(), id }),
        })
    }
}

/// The fewest bytes a value of type `ty` can occupy.
fn min_value_bytes(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10 | 11 | 12 => 8,
        9 => 12,
        _ => return None,
    })
}
