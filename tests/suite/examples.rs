//! The README's walk-through (examples/walkthrough.sh) run against the real binary on its default
//! configuration: the documented calls keep working as documented.

use crate::common;

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

fn run(args: &[&str]) -> (bool, String) {
    let out = common::switchyard(args, &[]);
    (out.status.success(), format!("{}{}", common::text(&out.stdout), common::text(&out.stderr)))
}

#[test]
fn the_routing_example_configuration_routes_as_its_comments_say() {
    let config = "examples/config/routing.toml";
    let (ok, text) = run(&["--config", config, "check"]);
    assert!(ok, "{text}");
    let (ok, text) =
        run(&["--config", config, "route", "--profile", "amounts", "--payment", "examples/routing/large-eur.json"]);
    assert!(ok, "{text}");
    assert!(text.contains("decision  adyen → stripe") && text.contains("reason    large EUR payment"), "{text}");
    let (ok, text) =
        run(&["--config", config, "route", "--profile", "split", "--payment", "examples/routing/view.json"]);
    assert!(ok, "{text}");
    assert!(text.contains("script    volume_split (") && text.contains("reason    70/30 split"), "{text}");
}
