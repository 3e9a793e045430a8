//! The alerting rules shipped in examples/prometheus: `promtool` accepts them and passes their
//! unit tests, each alert has tests, and each has its runbook in the README, where its
//! `runbook` annotation points.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::prometheus::tool;

fn file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `promtool` with `args` and the file `path`, failing with what it printed.
fn promtool(args: &[&str], path: &str) {
    let out = Command::new(tool("promtool")).args(args).arg(file(path)).output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {} {path}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each alert of alerts.yml with its `runbook` annotation (the rules file's layout is one
/// `- alert:` line per rule, its annotations below it).
fn alerts() -> Vec<(String, Option<String>)> {
    let mut alerts: Vec<(String, Option<String>)> = Vec::new();
    for line in read("examples/prometheus/alerts.yml").lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push((name.trim().to_string(), None));
        } else if let Some(runbook) = line.strip_prefix("runbook:") {
            let last = alerts.last_mut().expect("a runbook belongs to an alert");
            last.1 = Some(runbook.trim().trim_matches('"').to_string());
        }
    }
    assert!(alerts.len() >= 10, "alerts.yml has {} alerts", alerts.len());
    alerts
}

#[test]
fn promtool_accepts_the_alerting_rules() {
    promtool(&["check", "rules"], "examples/prometheus/alerts.yml");
}

#[test]
fn the_alerting_rules_pass_their_unit_tests() {
    promtool(&["test", "rules"], "examples/prometheus/alerts.test.yml");
}

#[test]
fn every_alert_is_unit_tested() {
    let tests = read("examples/prometheus/alerts.test.yml");
    let tested: BTreeSet<&str> =
        tests.lines().filter_map(|l| l.trim().strip_prefix("alertname:")).map(str::trim).collect();
    for (alert, _) in alerts() {
        assert!(tested.contains(alert.as_str()), "{alert} has no test in alerts.test.yml");
    }
}

/// Every alert's `runbook` is the README's heading of its name (`#### SwitchyardDown`, whose
/// anchor is `README.md#switchyarddown`), and every such heading names an alert.
#[test]
fn every_alert_has_its_runbook_in_the_readme() {
    let readme = read("README.md");
    let headings: BTreeSet<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("#### "))
        .map(str::trim)
        .filter(|h| h.starts_with("Switchyard"))
        .collect();
    let alerts = alerts();
    for (alert, runbook) in &alerts {
        let anchor = format!("README.md#{}", alert.to_lowercase());
        assert_eq!(runbook.as_deref(), Some(anchor.as_str()), "{alert}'s runbook annotation");
        assert!(headings.contains(alert.as_str()), "the README has no runbook heading `#### {alert}`");
    }
    let named: BTreeSet<&str> = alerts.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(headings, named, "the README's runbooks and the alerts differ");
}
