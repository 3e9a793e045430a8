//! `switchyard plugin test <file>`: a plugin file loaded as the daemon loads it, then run against
//! its fixtures (`<name>.fixtures.json` beside it), each flow's request and answer checked; what
//! differs is shown. No provider is called and no configuration is needed beyond the Lua budget.

use std::fmt::Write as _;
use std::path::Path;

use crate::connectors::plugin::fixtures;
use crate::connectors::plugin::loader::load_plugin;
use crate::connectors::plugin::PluginConnector;
use crate::lua::Budget;

/// The report of a run: every fixture's result. An error (the same report) when the file does not
/// load, has no fixtures, or any fixture fails.
pub fn test(file: &Path, budget: Budget) -> Result<String, String> {
    let plugin = load_plugin(file, budget)?;
    let fixtures = fixtures::read(file)?;
    if fixtures.is_empty() {
        return Err(format!("{}: no fixtures: write them in {}", file.display(), fixtures::path_of(file).display()));
    }
    let connector = PluginConnector::new(plugin, budget, reqwest::Client::new(), "http://127.0.0.1");
    let failures = fixtures::run(&connector, &fixtures);
    let mut out = String::new();
    for fixture in &fixtures {
        match failures.iter().find(|f| f.fixture == fixture.name) {
            None => writeln!(out, "ok      {} ({})", fixture.name, fixture.flow),
            Some(failure) => writeln!(out, "FAILED  {} ({}): {}", fixture.name, fixture.flow, failure.problem),
        }
        .expect("writing to a string");
    }
    let _ = writeln!(out, "{} fixtures, {} failed", fixtures.len(), failures.len());
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(out)
    }
}
