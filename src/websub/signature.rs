//! `X-Hub-Signature`: the HMAC of a delivery's body under the subscription's secret, as
//! `method=hex` (WebSub §8: sha1, sha256, sha384, sha512); and the random tokens and secrets
//! our subscriptions use.

use aws_lc_rs::hmac;

/// The signature of `body` under `secret`, as we send it: `sha256=<hex>`.
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// Whether `header` (an `X-Hub-Signature` value) is a valid signature of `body` under
/// `secret`, by any of the four methods WebSub names; compared in constant time.
pub(crate) fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let Some((method, digest)) = header.trim().split_once('=') else {
        return false;
    };
    let algorithm = match method.trim().to_ascii_lowercase().as_str() {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha384" => hmac::HMAC_SHA384,
        "sha512" => hmac::HMAC_SHA512,
        _ => return false,
    };
    let Ok(digest) = hex::decode(digest.trim()) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(algorithm, secret), body, &digest).is_ok()
}

/// 32 random bytes in hex: a callback token, a secret, a challenge.
pub(crate) fn random() -> String {
    let mut bytes = [0u8; 32];
    // The system's source does not fail once the machine has booted; should it, a hash of
    // the time and the process is unique, if guessable, rather than all zeros.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = format!("{now:?}{}", std::process::id());
        bytes = *blake3::hash(seed.as_bytes()).as_bytes();
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_verifies_and_a_changed_body_does_not() {
        let secret = b"s3cret";
        let body = b"<feed/>";
        assert!(verify(secret, &sign(secret, body), body));
        for (algorithm, name) in [
            (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1"),
            (hmac::HMAC_SHA384, "sha384"),
            (hmac::HMAC_SHA512, "sha512"),
        ] {
            let tag = hmac::sign(&hmac::Key::new(algorithm, secret), body);
            let header = format!("{name}={}", hex::encode(tag.as_ref()));
            assert!(verify(secret, &header, body), "{name}");
            assert!(!verify(secret, &header, b"<feed></feed>"), "{name}");
            assert!(!verify(b"other", &header, body), "{name}");
        }
        assert!(!verify(secret, "md5=00", body));
        assert!(!verify(secret, "sha256=zz", body));
        assert!(!verify(secret, "", body));
    }
}
