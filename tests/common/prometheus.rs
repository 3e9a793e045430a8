//! Prometheus's own programs for the tests that need them (`prometheus`, `promtool`): Debian's
//! `prometheus` package is installed first when the machine has none, as `scripts/with-postgres`
//! installs PostgreSQL, so those tests need nothing installed beforehand.

use std::process::Command;

fn which(name: &str) -> Option<String> {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().expect("sh runs");
    Some(String::from_utf8_lossy(&found.stdout).trim().to_string()).filter(|path| !path.is_empty())
}

/// Where `name` (`prometheus` or `promtool`) is, installing Debian's `prometheus` if needed.
pub fn tool(name: &str) -> String {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    if which(name).is_none() {
        INSTALLED.call_once(|| {
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
            let as_root = |args: &[&str]| {
                let mut command = Command::new(if root { args[0] } else { "sudo" });
                command.args(if root { &args[1..] } else { args }).env("DEBIAN_FRONTEND", "noninteractive");
                command
            };
            super::venv::run(&mut as_root(&["apt-get", "update", "-qq"]), "apt-get update");
            super::venv::run(
                &mut as_root(&["apt-get", "install", "-y", "-qq", "prometheus"]),
                "apt-get install prometheus",
            );
        });
    }
    which(name)
        .unwrap_or_else(|| panic!("`{name}` is not installed, and installing Debian's prometheus did not bring it"))
}
