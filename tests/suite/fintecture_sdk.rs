//! The Fintecture SDK reference harness itself: what it returns is what the documented scheme says, and the
//! signature verifies with the fixture's public key.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::fintecture_sdk::{public_key_path, reference, APP_ID};
use sha2::{Digest, Sha256};

const DATE: &str = "Mon, 26 Feb 2024 13:36:00 GMT";
const REQUEST_ID: &str = "963587a9-1fa4-42d2-bca8-85c27d0c859e";

/// Standard base64 with padding (the crate has no base64 dependency).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The base64 `signature="…"` value of a `Signature` header.
fn signature_value(header: &str) -> &str {
    let start = header.find(",signature=\"").expect("a signature parameter") + ",signature=\"".len();
    header[start..].strip_suffix('"').expect("the signature parameter comes last")
}

/// Whether `openssl dgst -sha256 -verify` accepts `signature_b64` over `data` with the fixture's public key.
fn openssl_verifies(dir: &Path, data: &str, signature_b64: &str) -> bool {
    let (b64, sig, text) = (dir.join("sig.b64"), dir.join("sig.bin"), dir.join("data.txt"));
    std::fs::write(&b64, signature_b64).unwrap();
    std::fs::write(&text, data).unwrap();
    let decoded = Command::new("openssl")
        .args(["base64", "-d", "-A", "-in"])
        .arg(&b64)
        .arg("-out")
        .arg(&sig)
        .status()
        .expect("openssl runs");
    assert!(decoded.success(), "openssl base64 -d");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_key_path())
        .arg("-signature")
        .arg(&sig)
        .arg(&text)
        .output()
        .expect("openssl runs");
    out.status.success()
}

#[test]
fn post_reference_has_the_body_digest_four_signed_lines_and_a_valid_signature() {
    let body = r#"{"meta":{"psu_name":"Joseph Doe"},"data":{"type":"PIS","attributes":{"amount":"65.40","currency":"EUR","communication":"order 1"}}}"#;
    let r = reference("POST", "/pis/v2/connect?state=test", DATE, REQUEST_ID, Some(body));

    let digest = format!("SHA-256={}", base64(&Sha256::digest(body.as_bytes())));
    assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(
        r.signing_string,
        format!(
            "(request-target): post /pis/v2/connect?state=test\ndate: {DATE}\ndigest: {digest}\nx-request-id: {REQUEST_ID}"
        )
    );
    let prefix = format!(
        r#"keyId="{APP_ID}",algorithm="rsa-sha256",headers="(request-target) date digest x-request-id",signature=""#
    );
    assert!(r.signature.starts_with(&prefix), "{}", r.signature);
    // The SDK's own clock would have written the date with `-0000`.
    assert_eq!(r.sdk_date, "Mon, 26 Feb 2024 13:36:00 -0000");

    let dir = tempfile::TempDir::new().unwrap();
    assert!(openssl_verifies(dir.path(), &r.signing_string, signature_value(&r.signature)));
    let tampered = r.signing_string.replace("state=test", "state=tesu");
    assert!(!openssl_verifies(dir.path(), &tampered, signature_value(&r.signature)));
}

#[test]
fn get_reference_has_no_digest_and_three_signed_lines() {
    let r = reference("GET", "/pis/v2/payments/abc", DATE, REQUEST_ID, None);

    assert_eq!(r.digest, None);
    assert_eq!(
        r.signing_string,
        format!("(request-target): get /pis/v2/payments/abc\ndate: {DATE}\nx-request-id: {REQUEST_ID}")
    );
    assert!(!r.signing_string.contains("digest"));
    assert!(
        r.signature.starts_with(&format!(
            r#"keyId="{APP_ID}",algorithm="rsa-sha256",headers="(request-target) date x-request-id",signature=""#
        )),
        "{}",
        r.signature
    );
    let dir = tempfile::TempDir::new().unwrap();
    assert!(openssl_verifies(dir.path(), &r.signing_string, signature_value(&r.signature)));
}
