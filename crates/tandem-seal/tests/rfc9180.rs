//! RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! AES-128-GCM, base mode: key derivation, decapsulation, the key schedule
//! and the first three encryptions (nonce sequencing), through the suite
//! this crate seals with.

use hpke::{Deserializable, Kem as _, OpModeR, Serializable};
use tandem_seal::suite::{Aead, Kdf, Kem};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const IKM_E: &str = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234";
const PK_EM: &str = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
const SK_EM: &str = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736";
const IKM_R: &str = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037";
const PK_RM: &str = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d";
const SK_RM: &str = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
/// (aad, ciphertext) for sequence numbers 0, 1, 2.
const ENCRYPTIONS: [(&str, &str); 3] = [
    (
        "436f756e742d30",
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
    ),
    (
        "436f756e742d31",
        "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84",
    ),
    (
        "436f756e742d32",
        "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180",
    ),
];

/// X25519 scalars are stored clamped (RFC 7748 §5); the RFC prints them unclamped.
fn clamped(sk: &str) -> Vec<u8> {
    let mut b = hex(sk);
    b[0] &= 248;
    b[31] &= 127;
    b[31] |= 64;
    b
}

#[test]
fn key_pairs_derive_as_in_the_rfc() {
    let (sk_e, pk_e) = Kem::derive_keypair(&hex(IKM_E));
    assert_eq!(sk_e.to_bytes().to_vec(), clamped(SK_EM));
    assert_eq!(pk_e.to_bytes().to_vec(), hex(PK_EM));
    let (sk_r, pk_r) = Kem::derive_keypair(&hex(IKM_R));
    assert_eq!(sk_r.to_bytes().to_vec(), clamped(SK_RM));
    assert_eq!(pk_r.to_bytes().to_vec(), hex(PK_RM));
}

#[test]
fn the_receiver_opens_the_rfc_ciphertexts_in_sequence() {
    let sk_r = <Kem as hpke::Kem>::PrivateKey::from_bytes(&hex(SK_RM)).unwrap();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&hex(PK_EM)).unwrap();
    let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &sk_r, &enc, &hex(INFO)).unwrap();
    for (aad, ct) in ENCRYPTIONS {
        assert_eq!(ctx.open(&hex(ct), &hex(aad)).unwrap(), hex(PT));
    }
}

#[test]
fn out_of_sequence_or_altered_ciphertexts_do_not_open() {
    let sk_r = <Kem as hpke::Kem>::PrivateKey::from_bytes(&hex(SK_RM)).unwrap();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&hex(PK_EM)).unwrap();
    let setup = || hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &sk_r, &enc, &hex(INFO)).unwrap();
    // Sequence number 1's ciphertext at position 0.
    assert!(setup().open(&hex(ENCRYPTIONS[1].1), &hex(ENCRYPTIONS[1].0)).is_err());
    let mut flipped = hex(ENCRYPTIONS[0].1);
    flipped[3] ^= 1;
    assert!(setup().open(&flipped, &hex(ENCRYPTIONS[0].0)).is_err());
    assert!(setup().open(&hex(ENCRYPTIONS[0].1), b"Count-9").is_err());
}
