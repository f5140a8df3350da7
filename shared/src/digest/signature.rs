//! RSA PKCS#1 v1.5 signature verification, pinned to SHA-256
//! (`docs/specs/digest-validation.md` §4, §9.2).

use aws_lc_rs::signature::{self, UnparsedPublicKey};

/// The outcome of checking a digest signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verifies as SHA256withRSA.
    Valid,
    /// Made with the right key but another hash (awscli v1 accepts these; we do not).
    OtherHash(&'static str),
    /// Does not verify.
    Invalid,
}

/// Verifies `signature` over `message` with `key_der` (PKCS#1 `RSAPublicKey` or SPKI DER).
/// Only SHA-256 makes a signature valid; the other hashes are tried solely to say *why* it failed.
pub fn verify_sha256_rsa(key_der: &[u8], message: &[u8], signature: &[u8]) -> SignatureCheck {
    let verify = |alg: &'static signature::RsaParameters| {
        UnparsedPublicKey::new(alg, key_der)
            .verify(message, signature)
            .is_ok()
    };
    if verify(&signature::RSA_PKCS1_2048_8192_SHA256) {
        return SignatureCheck::Valid;
    }
    let others: [(&'static signature::RsaParameters, &'static str); 3] = [
        (
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "SHA1withRSA",
        ),
        (&signature::RSA_PKCS1_2048_8192_SHA384, "SHA384withRSA"),
        (&signature::RSA_PKCS1_2048_8192_SHA512, "SHA512withRSA"),
    ];
    for (alg, name) in others {
        if verify(alg) {
            return SignatureCheck::OtherHash(name);
        }
    }
    SignatureCheck::Invalid
}

/// Decodes the hex signature from S3 metadata (either case).
pub(super) fn decode_signature_hex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim()).map_err(|e| format!("signature is not hexadecimal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;

    fn sign(key: &KeyPair, alg: &'static dyn signature::RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(alg, &SystemRandom::new(), msg, &mut sig).unwrap();
        sig
    }

    #[test]
    fn pins_sha256_and_names_other_hashes() {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs1 = key.public_key().as_ref().to_vec();
        let spki = key.public_key().as_der().unwrap().as_ref().to_vec();
        let msg = b"2026-03-14T09:12:09Z\nb/k\nab\nnull";
        let good = sign(&key, &signature::RSA_PKCS1_SHA256, msg);
        assert_eq!(verify_sha256_rsa(&pkcs1, msg, &good), SignatureCheck::Valid);
        assert_eq!(verify_sha256_rsa(&spki, msg, &good), SignatureCheck::Valid);
        assert_eq!(
            verify_sha256_rsa(&pkcs1, b"other", &good),
            SignatureCheck::Invalid
        );
        let sha512 = sign(&key, &signature::RSA_PKCS1_SHA512, msg);
        assert_eq!(
            verify_sha256_rsa(&pkcs1, msg, &sha512),
            SignatureCheck::OtherHash("SHA512withRSA")
        );
        let mut extended = good.clone();
        extended.push(0);
        assert_eq!(
            verify_sha256_rsa(&pkcs1, msg, &extended),
            SignatureCheck::Invalid
        );
        assert_eq!(
            verify_sha256_rsa(b"not a key", msg, &good),
            SignatureCheck::Invalid
        );
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_signature_hex("0aFF").unwrap(), vec![10, 255]);
        assert!(decode_signature_hex("zz").is_err());
        assert!(decode_signature_hex("abc").is_err());
    }
}
