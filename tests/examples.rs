//! The README's walk-through (examples/walkthrough.sh) run against the real binary on its default
//! configuration: the documented calls keep working as documented.

mod common;

use common::Daemon;

#[tokio::test]
async fn the_walkthrough_runs_against_the_default_configuration() {
    let daemon = Daemon::spawn(&[]).await;
    let out = tokio::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/walkthrough.sh"))
        .env("SY", &daemon.base)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "walk-through failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("walk-through complete"), "{stdout}");
    assert!(stdout.contains("partially_captured") && stdout.contains("status=succeeded"), "{stdout}");
}
