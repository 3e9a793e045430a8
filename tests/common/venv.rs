//! Python venvs under the target folder for the test peers and references that come from PyPI:
//! `test-venv` for localstripe and Fintecture's SDK, one of its own for a tool whose
//! dependencies should not meet theirs (schemathesis). A package is installed the first time a
//! test process needs it.
//! Test processes run in parallel: installs take a lock (a file made with `create_new`), and a
//! lock older than five minutes is taken over as abandoned.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a lock on the venv may be held before another process takes it as abandoned.
const STALE_LOCK: Duration = Duration::from_secs(5 * 60);

/// The cargo target folder: `CARGO_TARGET_DIR` when set, else `<manifest>/target`.
pub fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => manifest.join(dir),
        _ => manifest.join("target"),
    }
}

/// The shared venv, `test-venv`.
const SHARED: &str = "test-venv";

fn venv_dir(name: &str) -> PathBuf {
    target_dir().join(name)
}

pub fn python() -> PathBuf {
    bin_in(SHARED, "python")
}

/// A program the venv `name` installed (`schemathesis`, …).
pub fn bin_in(name: &str, program: &str) -> PathBuf {
    venv_dir(name).join("bin").join(program)
}

/// Whether the venv's Python runs `check` without error.
fn passes(name: &str, check: &str) -> bool {
    Command::new(bin_in(name, "python"))
        .args(["-c", check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure the shared venv passes `check` (an import, say), pip-installing `requirement`
/// under the lock if it does not.
pub fn ensure(check: &str, requirement: &str) {
    ensure_in(SHARED, check, requirement)
}

/// `ensure`, in the venv `name` (made if absent).
pub fn ensure_in(name: &str, check: &str, requirement: &str) {
    if passes(name, check) {
        return;
    }
    std::fs::create_dir_all(target_dir()).expect("target folder");
    let _lock = Lock::take(target_dir().join(format!("{name}.lock")));
    // Another process may have installed it while this one waited.
    if passes(name, check) {
        return;
    }
    let venv = venv_dir(name);
    if !venv.join("bin").join("pip").exists() {
        // Absent, or left half-made by a process that died.
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv), "python3 -m venv");
    }
    run(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ]),
        &format!("pip install {requirement}"),
    );
    assert!(passes(name, check), "{requirement} installed in {} but `{check}` fails", venv.display());
}

pub fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An exclusive lock between test processes, removed on drop.
struct Lock(PathBuf);

impl Lock {
    fn take(path: PathBuf) -> Self {
        let deadline = Instant::now() + STALE_LOCK + Duration::from_secs(60);
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let _ = writeln!(file, "{}", std::process::id());
                    return Self(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or_default();
                    if age > STALE_LOCK {
                        // Its holder died mid-install; whoever removes it first takes over.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    assert!(Instant::now() < deadline, "the venv lock {} is never released", path.display());
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => panic!("cannot create the venv lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
