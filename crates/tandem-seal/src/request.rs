//! Sealing and opening requests (HPKE base mode).

use crate::response::{RESPONSE_LABEL, ResponseOpener, ResponseSealer, SECRET_LEN};
use crate::{AEAD_ID, Aead, KDF_ID, KEM_ID, Kdf, Kem, KeyConfig, SealError, ServerKeys};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};

const INFO_LABEL: &[u8] = b"tandem seal request v1";
const HEADER_LEN: usize = 7;
/// Length of an X25519 encapsulated key.
pub const ENC_LEN: usize = 32;
const TAG_LEN: usize = 16;

fn header(key_id: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = key_id;
    h[1..3].copy_from_slice(&KEM_ID.to_be_bytes());
    h[3..5].copy_from_slice(&KDF_ID.to_be_bytes());
    h[5..7].copy_from_slice(&AEAD_ID.to_be_bytes());
    h
}

fn info(header: &[u8]) -> Vec<u8> {
    [INFO_LABEL, &[0], header].concat()
}

/// A sealed request and what will open its response.
#[derive(Debug)]
pub struct SealedRequest {
    /// The request body to send.
    pub body: Vec<u8>,
    /// Opens the response to this request (and no other).
    pub opener: ResponseOpener,
}

/// Seals `plaintext` to the key `config` describes.
pub fn seal_request(config: &KeyConfig, plaintext: &[u8]) -> Result<SealedRequest, SealError> {
    let public = config.public_key()?;
    let hdr = header(config.key_id);
    let (enc, mut ctx) = hpke::setup_sender::<Aead, Kdf, Kem>(&OpModeS::Base, &public, &info(&hdr))
        .map_err(|_| SealError::BadKey("HPKE setup failed".into()))?;
    let ct = ctx.seal(plaintext, b"").map_err(|_| SealError::Decrypt)?;
    let mut secret = [0u8; SECRET_LEN];
    ctx.export(RESPONSE_LABEL, &mut secret)
        .map_err(|_| SealError::Decrypt)?;
    let enc = enc.to_bytes();
    let mut body = Vec::with_capacity(HEADER_LEN + ENC_LEN + ct.len());
    body.extend_from_slice(&hdr);
    body.extend_from_slice(&enc);
    body.extend_from_slice(&ct);
    Ok(SealedRequest {
        body,
        opener: ResponseOpener::new(secret, enc.to_vec()),
    })
}

/// An opened request.
#[derive(Debug)]
pub struct OpenedRequest {
    /// What the client sealed.
    pub plaintext: Vec<u8>,
    /// The encapsulated key: unique per request, the replay window's key.
    pub enc: [u8; ENC_LEN],
    /// Seals the response so that only this request's sender can open it.
    pub sealer: ResponseSealer,
}

/// Opens a sealed request body with one of `keys` (as of `now_ms`).
pub fn open_request(keys: &ServerKeys, body: &[u8], now_ms: f64) -> Result<OpenedRequest, SealError> {
    if body.len() < HEADER_LEN + ENC_LEN + TAG_LEN {
        return Err(SealError::Malformed("too short"));
    }
    let (hdr, rest) = body.split_at(HEADER_LEN);
    if hdr[1..] != header(0)[1..] {
        return Err(SealError::Malformed("unsupported HPKE suite"));
    }
    let key = keys.find(hdr[0], now_ms)?;
    let (enc_bytes, ct) = rest.split_at(ENC_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc_bytes)
        .map_err(|_| SealError::Malformed("bad encapsulated key"))?;
    let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &key.secret, &enc, &info(hdr))
        .map_err(|_| SealError::Decrypt)?;
    let plaintext = ctx.open(ct, b"").map_err(|_| SealError::Decrypt)?;
    let mut secret = [0u8; SECRET_LEN];
    ctx.export(RESPONSE_LABEL, &mut secret)
        .map_err(|_| SealError::Decrypt)?;
    let mut enc = [0u8; ENC_LEN];
    enc.copy_from_slice(enc_bytes);
    Ok(OpenedRequest {
        plaintext,
        enc,
        sealer: ResponseSealer::new(secret, &enc)?,
    })
}
