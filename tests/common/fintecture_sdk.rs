//! Reference `Digest` and `Signature` headers from Fintecture's official Python SDK (PyPI `fintecture`),
//! for fixed inputs, to compare a connector's signing with byte for byte.
//!
//! The SDK goes into the test venv (see [`super::venv`]) the first time a test process asks for a
//! reference. Each reference then runs
//! `tests/fixtures/fintecture/sdk_sign.py`, which calls the SDK's own `APIRequestor.request_headers` with its clock
//! and UUID source pinned to the given date and request id, signing with the test-only key pair in
//! `tests/fixtures/fintecture/test_key.pem` (private, PKCS#8) and `test_key.pub.pem` (public, SPKI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The pinned SDK version.
pub const VERSION: &str = "1.3.1";
/// The `keyId` the references are signed for.
pub const APP_ID: &str = "switchyard-test-app";

/// What the SDK sends for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The whole `Digest` header value, `SHA-256=<base64>`; `None` when there is no (or an empty) body.
    pub digest: Option<String>,
    /// The whole `Signature` header value, `keyId="…",algorithm="rsa-sha256",headers="…",signature="…"`.
    pub signature: String,
    /// The exact text the SDK signed: `name: value` lines joined with `\n`, no trailing newline.
    pub signing_string: String,
    /// The `Date` header the SDK itself would have produced at that instant (it formats a naive UTC time, so this
    /// ends in `-0000`, not `GMT`); the signature above is over the `date` given instead.
    pub sdk_date: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join("fintecture")
}

/// The test-only RSA private key the references are signed with (PKCS#8 PEM).
pub fn key_path() -> PathBuf {
    fixtures().join("test_key.pem")
}

/// Its public key (SPKI PEM), to verify signatures with.
pub fn public_key_path() -> PathBuf {
    fixtures().join("test_key.pub.pem")
}

/// The reference headers for one request: `method` (any case), `target` the path with its query exactly as sent
/// (`/pis/v2/connect?state=test`), `date` the `Date` header value, `request_id` the `X-Request-ID` value, `body`
/// the exact body text (`None` for none).
pub fn reference(method: &str, target: &str, date: &str, request_id: &str, body: Option<&str>) -> Reference {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(ensure_installed);
    let input = json!({
        "private_key_path": key_path(),
        "app_id": APP_ID,
        "method": method,
        "target": target,
        "date": date,
        "request_id": request_id,
        "body": body,
    });
    let mut child = Command::new(super::venv::python())
        .arg(fixtures().join("sdk_sign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sdk_sign.py starts");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("sdk_sign.py reads its input");
    let out = child.wait_with_output().expect("sdk_sign.py runs");
    assert!(out.status.success(), "sdk_sign.py failed on {input}:\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("sdk_sign.py prints JSON");
    let text = |name: &str| v[name].as_str().unwrap_or_else(|| panic!("no {name} in {v}")).to_string();
    assert_eq!(v["sdk_version"], VERSION, "the SDK in the venv is not the pinned version");
    Reference {
        digest: v["digest"].as_str().map(str::to_string),
        signature: text("signature"),
        signing_string: text("signing_string"),
        sdk_date: text("sdk_date"),
    }
}

fn ensure_installed() {
    let check = format!("import fintecture.version, cryptography; assert fintecture.version.VERSION == '{VERSION}'");
    super::venv::ensure(&check, &format!("fintecture=={VERSION}"));
}
