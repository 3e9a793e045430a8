//! Programs from Debian's packages that tests run as real peers (Prometheus, Redis): a package is
//! installed when the machine lacks its program, as `scripts/with-postgres` installs PostgreSQL,
//! so those tests need nothing installed beforehand.

use std::process::Command;
use std::sync::Mutex;

fn which(name: &str) -> Option<String> {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().expect("sh runs");
    Some(String::from_utf8_lossy(&found.stdout).trim().to_string()).filter(|path| !path.is_empty())
}

/// Where `program` is, installing Debian's `package` first if the machine has no such program.
pub fn program(program: &str, package: &str) -> String {
    // One install at a time: apt-get holds a lock, and tests ask in parallel.
    static INSTALLING: Mutex<()> = Mutex::new(());
    if which(program).is_none() {
        let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        if which(program).is_none() {
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
            let as_root = |args: &[&str]| {
                let mut command = Command::new(if root { args[0] } else { "sudo" });
                command.args(if root { &args[1..] } else { args }).env("DEBIAN_FRONTEND", "noninteractive");
                command
            };
            super::venv::run(&mut as_root(&["apt-get", "update", "-qq"]), "apt-get update");
            super::venv::run(
                &mut as_root(&["apt-get", "install", "-y", "-qq", package]),
                &format!("apt-get install {package}"),
            );
        }
    }
    which(program)
        .unwrap_or_else(|| panic!("`{program}` is not installed, and installing Debian's {package} did not bring it"))
}
