//! A real localstripe (the fake, stateful Stripe server from PyPI) on loopback, started once per
//! test process: a Python venv under the target folder gets `localstripe==1.15.10` the first time
//! any test process needs it, and the server then runs for as long as the test process does.
//!
//! localstripe keeps its state in one pickle file under /tmp that every instance on the machine
//! shares, so tests must never count objects globally nor clear the store.
//!
//! localstripe takes no card inline in a payment intent (`payment_method_data`, which the
//! connector sends) nor a `return_url`: the server is started with a shim that makes the card
//! a payment method of its own first, as Stripe does, and drops the `return_url` (localstripe
//! has no redirect to send a payer through; its 3-D Secure stays `use_stripe_sdk`). The rest —
//! confirming, charging, declining, capturing, refunding — is localstripe's own.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use switchyard::config::{ConnectorAccountConfig, SecretValue};

/// The pinned version: the quirks the tests rely on were observed on it.
pub const VERSION: &str = "1.15.10";
/// The secret key accounts call localstripe with (it takes any `sk_…` key).
pub const API_KEY: &str = "sk_test_switchyardLocalstripe0000";

/// How long a started server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

struct Server {
    url: String,
    /// Kept so the server lives as long as this process.
    _child: Mutex<Child>,
    /// The server exits when this pipe closes, which the kernel does when this process ends in
    /// any way; a static is never dropped, so nothing else would stop it.
    _stdin: Mutex<ChildStdin>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The address of this process's localstripe, `http://127.0.0.1:<port>`, starting it (and
/// installing it) the first time it is asked for.
pub fn url() -> String {
    SERVER.get_or_init(start).url.clone()
}

/// A Stripe connector account named `name` that calls `base_url` with [`API_KEY`].
pub fn stripe_account(name: &str, base_url: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "stripe".into(),
        enabled: true,
        base_url: Some(base_url.into()),
        credentials: BTreeMap::from([("api_key".to_string(), SecretValue::Literal(API_KEY.into()))]),
        metadata: Default::default(),
        rate_limit: None,
    }
}

/// Makes sure the venv has localstripe.
fn ensure_installed() {
    super::venv::ensure("import localstripe, aiohttp.web", &format!("localstripe=={VERSION}"));
}

/// The server, bound to loopback only; it exits by itself once its standard input closes.
fn script(port: u16) -> String {
    format!(
        "import os, sys, threading\n\
         import aiohttp.web\n\
         from localstripe.server import app\n\
         from localstripe.resources import PaymentIntent, PaymentMethod\n\
         create = PaymentIntent._api_create.__func__\n\
         def create_inline(cls, payment_method_data=None, return_url=None, **data):\n    \
         if payment_method_data is not None:\n        \
         data['payment_method'] = PaymentMethod._api_create(**payment_method_data).id\n    \
         return create(cls, **data)\n\
         PaymentIntent._api_create = classmethod(create_inline)\n\
         def watch():\n    sys.stdin.read()\n    os._exit(0)\n\
         threading.Thread(target=watch, daemon=True).start()\n\
         aiohttp.web.run_app(app, host='127.0.0.1', port={port}, print=None)\n"
    )
}

/// Whether `GET /v1/customers` answers 200 on `port`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /v1/customers HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn log_path() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let name = exe.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned());
    super::venv::target_dir()
        .join(format!("localstripe-{}.log", name.unwrap_or_else(|| std::process::id().to_string())))
}

fn start() -> Server {
    ensure_installed();
    let log = log_path();
    // A port freed here may be taken by someone else before the server binds it: try again.
    for _ in 0..3 {
        let port = super::binary::free_port();
        let out = std::fs::File::create(&log).expect("localstripe log file");
        let mut child = Command::new(super::venv::python())
            .args(["-c", &script(port)])
            .current_dir(super::venv::target_dir())
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("localstripe starts");
        let stdin = child.stdin.take().expect("localstripe's stdin");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers(port) {
                return Server {
                    url: format!("http://127.0.0.1:{port}"),
                    _child: Mutex::new(child),
                    _stdin: Mutex::new(stdin),
                };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "localstripe did not answer on 127.0.0.1:{port} within {READY_TIMEOUT:?}; its log ({}):\n{}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!(
        "localstripe exited before answering; its log ({}):\n{}",
        log.display(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
