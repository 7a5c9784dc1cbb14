//! Responses: length-prefixed AES-128-GCM records with sequence numbers and
//! a final marker, keyed from the request's HPKE context.
//!
//! Each record's plaintext is padded, as in RFC 8188: the data, a delimiter
//! byte, then zeros up to a size bucket ([`padded_len`]). A streamed reply is
//! one record per event, so without padding each record's size would give
//! away the length of the token it carries, the side channel published
//! against AI assistants (Weiss et al., 2024). Data larger than
//! [`MAX_RECORD_DATA`] is split over several records.

use crate::SealError;
use aes_gcm::aead::{Aead as _, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// HPKE exporter context of the response secret.
pub(crate) const RESPONSE_LABEL: &[u8] = b"tandem seal response v2";
/// Length of the exported secret and of the response nonce (max(Nk, Nn) for AES-128-GCM).
pub(crate) const SECRET_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const LEN_PREFIX: usize = 4;
/// Largest record accepted (a guard against a lying length prefix).
pub(crate) const MAX_CHUNK: usize = 16 << 20;
const FINAL_AAD: &[u8] = b"final";
/// Ends a record's data; zeros of padding follow it.
const DELIMITER: u8 = 0x01;
/// Most data one record carries; [`ResponseSealer::seal_chunk`] splits larger data.
pub const MAX_RECORD_DATA: usize = 1 << 20;
/// The smallest padded record plaintext: a token's event is far smaller.
const MIN_BUCKET: usize = 256;
/// Above this, records are padded to a multiple of it instead of a power of two.
const LARGE_STEP: usize = 4096;

/// The padded plaintext length of a record holding `n` bytes (data and
/// delimiter): 256 at least, then powers of two up to 4 KiB, then multiples
/// of 4 KiB. An event of one token and one of sixty look the same.
pub fn padded_len(n: usize) -> usize {
    if n <= MIN_BUCKET {
        MIN_BUCKET
    } else if n <= LARGE_STEP {
        n.next_power_of_two()
    } else {
        n.div_ceil(LARGE_STEP) * LARGE_STEP
    }
}

fn derive(secret: &[u8; SECRET_LEN], enc: &[u8], response_nonce: &[u8; SECRET_LEN]) -> (Aes128Gcm, [u8; NONCE_LEN]) {
    let salt = [enc, response_nonce.as_slice()].concat();
    let hk = Hkdf::<Sha256>::new(Some(&salt), secret);
    let mut key = [0u8; 16];
    let mut nonce = [0u8; NONCE_LEN];
    // Both lengths are far below HKDF's limit of 255 * 32 bytes.
    let _ = hk.expand(b"key", &mut key);
    let _ = hk.expand(b"nonce", &mut nonce);
    let cipher = Aes128Gcm::new(&key.into());
    (cipher, nonce)
}

fn chunk_nonce(base: &[u8; NONCE_LEN], counter: u64) -> Nonce<aes_gcm::aes::cipher::consts::U12> {
    let mut n = *base;
    for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(counter.to_be_bytes()) {
        *b ^= c;
    }
    n.into()
}

/// Seals the chunks of one response (worker side).
pub struct ResponseSealer {
    cipher: Aes128Gcm,
    nonce: [u8; NONCE_LEN],
    counter: u64,
    prefix: Option<[u8; SECRET_LEN]>,
    finished: bool,
}

impl std::fmt::Debug for ResponseSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResponseSealer {{ counter: {}, finished: {} }}",
            self.counter, self.finished
        )
    }
}

impl ResponseSealer {
    pub(crate) fn new(secret: [u8; SECRET_LEN], enc: &[u8]) -> Result<Self, SealError> {
        let mut response_nonce = [0u8; SECRET_LEN];
        getrandom::fill(&mut response_nonce).map_err(|_| SealError::BadKey("no random source".into()))?;
        let (cipher, nonce) = derive(&secret, enc, &response_nonce);
        Ok(Self {
            cipher,
            nonce,
            counter: 0,
            prefix: Some(response_nonce),
            finished: false,
        })
    }

    /// The wire bytes of the next chunk of data (preceded, the first time, by
    /// the response nonce): one padded record, or several when `data` is over
    /// [`MAX_RECORD_DATA`]. `last` marks the end; nothing may follow it.
    pub fn seal_chunk(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        debug_assert!(!self.finished, "sealing after the final chunk");
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(MAX_RECORD_DATA).collect()
        };
        let mut out = Vec::new();
        if let Some(prefix) = self.prefix.take() {
            out.extend_from_slice(&prefix);
        }
        for (i, piece) in pieces.iter().enumerate() {
            let final_record = last && i + 1 == pieces.len();
            self.seal_record(piece, final_record, &mut out);
        }
        self.finished |= last;
        out
    }

    fn seal_record(&mut self, data: &[u8], last: bool, out: &mut Vec<u8>) {
        let mut plaintext = Vec::with_capacity(padded_len(data.len() + 1));
        plaintext.extend_from_slice(data);
        plaintext.push(DELIMITER);
        plaintext.resize(padded_len(data.len() + 1), 0);
        let aad = if last { FINAL_AAD } else { b"" };
        let nonce = chunk_nonce(&self.nonce, self.counter);
        self.counter += 1;
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: &plaintext, aad })
            .unwrap_or_default();
        out.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        out.extend_from_slice(&ct);
    }
}

/// A record's data: the plaintext without its zeros and delimiter.
fn unpad(mut plaintext: Vec<u8>) -> Result<Vec<u8>, SealError> {
    let end = plaintext
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(SealError::Malformed("a record without its delimiter"))?;
    if plaintext[end] != DELIMITER {
        return Err(SealError::Malformed("a record without its delimiter"));
    }
    plaintext.truncate(end);
    Ok(plaintext)
}

/// Opens the chunks of one response as its bytes arrive (client side).
pub struct ResponseOpener {
    secret: [u8; SECRET_LEN],
    enc: Vec<u8>,
    keys: Option<(Aes128Gcm, [u8; NONCE_LEN])>,
    buf: Vec<u8>,
    counter: u64,
    done: bool,
    failed: bool,
}

impl std::fmt::Debug for ResponseOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResponseOpener {{ counter: {}, done: {} }}", self.counter, self.done)
    }
}

impl ResponseOpener {
    pub(crate) fn new(secret: [u8; SECRET_LEN], enc: Vec<u8>) -> Self {
        Self {
            secret,
            enc,
            keys: None,
            buf: Vec::new(),
            counter: 0,
            done: false,
            failed: false,
        }
    }

    /// Feeds response bytes (split anywhere); returns the chunks they complete.
    /// After an error every later call fails too.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, SealError> {
        if self.failed {
            return Err(SealError::Decrypt);
        }
        let result = self.push_inner(bytes);
        self.failed = result.is_err();
        result
    }

    fn push_inner(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, SealError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        if self.keys.is_none() {
            if self.buf.len() < SECRET_LEN {
                return Ok(out);
            }
            let mut response_nonce = [0u8; SECRET_LEN];
            response_nonce.copy_from_slice(&self.buf[..SECRET_LEN]);
            self.buf.drain(..SECRET_LEN);
            self.keys = Some(derive(&self.secret, &self.enc, &response_nonce));
        }
        let Some((cipher, base)) = &self.keys else {
            return Ok(out);
        };
        loop {
            if self.buf.is_empty() {
                return Ok(out);
            }
            if self.done {
                return Err(SealError::Malformed("data after the final chunk"));
            }
            if self.buf.len() < LEN_PREFIX {
                return Ok(out);
            }
            let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if len > MAX_CHUNK + 16 {
                return Err(SealError::Malformed("chunk too large"));
            }
            if self.buf.len() < LEN_PREFIX + len {
                return Ok(out);
            }
            let ct = &self.buf[LEN_PREFIX..LEN_PREFIX + len];
            let nonce = chunk_nonce(base, self.counter);
            let (plaintext, last) = match cipher.decrypt(&nonce, Payload { msg: ct, aad: b"" }) {
                Ok(pt) => (pt, false),
                Err(_) => (
                    cipher
                        .decrypt(
                            &nonce,
                            Payload {
                                msg: ct,
                                aad: FINAL_AAD,
                            },
                        )
                        .map_err(|_| SealError::Decrypt)?,
                    true,
                ),
            };
            self.counter += 1;
            self.done = last;
            self.buf.drain(..LEN_PREFIX + len);
            out.push(unpad(plaintext)?);
        }
    }

    /// Whether the final chunk has been opened.
    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// Call at the end of the byte stream: fails unless the final chunk arrived.
    pub fn finish(&self) -> Result<(), SealError> {
        if self.failed {
            Err(SealError::Decrypt)
        } else if !self.done || !self.buf.is_empty() {
            Err(SealError::Truncated)
        } else {
            Ok(())
        }
    }
}
