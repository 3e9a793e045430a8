//! The layers of `src/`, and the rule that holds them: a module uses only the layers below its
//! own (and its own), and no two top-level modules use each other, even through others. This
//! test reads the source — every `crate::…` and `super::…` path, in `use` lines and inline — and
//! fails on an import that points up, on a circle of imports, and on a top-level module that
//! has no layer yet. The README's Layout shows the same table; the test holds the two together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, from the bottom up: each names its top-level modules.
const LAYERS: &[(&str, &[&str])] = &[
    ("value types", &["backoff", "card", "diff", "ids", "keys", "money", "schema", "secret", "text"]),
    ("domain", &["config", "domain"]),
    (
        "parts that keep or reach things",
        &["connectors", "limits", "lua", "merchants", "routing", "shared", "snapshot", "store", "vault"],
    ),
    ("payment core", &["customers", "events", "payment_methods", "payments"]),
    ("edge", &["api", "telemetry"]),
    ("program", &["app", "cli", "main", "server"]),
];

/// One use of another module: where, and the path as written.
#[derive(Debug, Clone)]
struct Import {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
    path: String,
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file, from the crate root: `src/payments/flow.rs` is `payments::flow`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("a file under src/").with_extension("");
    let mut segments: Vec<String> = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if segments.last().is_some_and(|s| s == "mod" || s == "lib") {
        segments.pop();
    }
    segments
}

/// The code of a line, its comment cut off (a `//` inside a string is rare enough in `src/`).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

fn identifier(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a path starting at `rest` (just after `crate::`) names: one, or for
/// `crate::{a::X, b}` each of the group's.
fn named_after_crate(rest: &str) -> Vec<String> {
    let Some(group) = rest.strip_prefix('{') else {
        return vec![identifier(rest).to_string()];
    };
    let (mut depth, mut names, mut at_start) = (0, Vec::new(), true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && !c.is_whitespace() => {
                names.push(identifier(&group[i..]).to_string());
                at_start = false;
            }
            _ => {}
        }
    }
    names
}

/// Every use of a top-level module other than the file's own. `use` trees that span lines are
/// joined first, so a grouped import is read whole.
fn imports(file: &Path) -> Vec<Import> {
    let text = std::fs::read_to_string(file).expect("a readable source file");
    let module = module_of(file);
    let own = module.first().cloned().unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(code).collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        // A statement that opens more braces than it closes goes on to the lines after it.
        let (start, mut joined) = (i, lines[i].to_string());
        while joined.trim_start().starts_with("use ") || joined.trim_start().starts_with("pub use ") {
            if joined.contains(';') || i + 1 >= lines.len() {
                break;
            }
            i += 1;
            joined.push_str(lines[i]);
        }
        i += 1;
        for (at, _) in joined.match_indices("crate::") {
            if at > 0 && joined[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for to in named_after_crate(&joined[at + "crate::".len()..]) {
                found.push((start, to, joined[at..].chars().take(60).collect::<String>()));
            }
        }
        for (at, _) in joined.match_indices("super::") {
            if at > 0 && joined[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut rest = &joined[at..];
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            // Only a path that climbs out of the file's top-level module names another one.
            if up == module.len() {
                for to in named_after_crate(rest) {
                    found.push((start, to, joined[at..].chars().take(60).collect::<String>()));
                }
            }
        }
    }
    found
        .into_iter()
        .filter(|(_, to, _)| !to.is_empty() && *to != own && to != "self")
        .map(|(line, to, path)| Import { file: file.to_path_buf(), line: line + 1, from: own.clone(), to, path })
        .collect()
}

fn all_imports() -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files.iter().filter(|f| module_of(f) != Vec::<String>::new()).flat_map(|f| imports(f)).collect()
}

fn top_level_modules() -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src()).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_stem().expect("a name").to_string_lossy().into_owned();
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && name != "lib") {
            modules.insert(name);
        }
    }
    modules
}

fn show(import: &Import) -> String {
    let file = import.file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&import.file);
    format!("{}:{}: {} -> {} ({})", file.display(), import.line, import.from, import.to, import.path)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: Vec<String> = top_level_modules().into_iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules with no layer in tests/suite/layers.rs: {unplaced:?}");
    let gone: Vec<&str> = LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter().copied())
        .filter(|m| !top_level_modules().contains(*m))
        .collect();
    assert!(gone.is_empty(), "layers name modules src/ does not have: {gone:?}");
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let imports = all_imports();
    assert!(imports.iter().any(|i| i.from == "payments" && i.to == "store"), "the reader finds imports");
    let upward: Vec<String> = imports
        .iter()
        .filter(|i| matches!((layer_of(&i.from), layer_of(&i.to)), (Some(from), Some(to)) if to > from))
        .map(show)
        .collect();
    assert!(upward.is_empty(), "{} import(s) point up:\n{}", upward.len(), upward.join("\n"));
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let mut edges: BTreeMap<String, BTreeMap<String, Import>> = BTreeMap::new();
    for import in all_imports() {
        edges.entry(import.from.clone()).or_default().entry(import.to.clone()).or_insert(import);
    }
    // A circle through `start`, found by walking its imports depth first.
    fn circle(
        edges: &BTreeMap<String, BTreeMap<String, Import>>,
        start: &str,
        at: &str,
        path: &mut Vec<Import>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for (to, import) in edges.get(at).into_iter().flatten() {
            path.push(import.clone());
            if to == start || (seen.insert(to.clone()) && circle(edges, start, to, path, seen)) {
                return true;
            }
            path.pop();
        }
        false
    }
    for start in edges.keys() {
        let mut path = Vec::new();
        if circle(&edges, start, start, &mut path, &mut BTreeSet::new()) {
            panic!("a circle of imports:\n{}", path.iter().map(show).collect::<Vec<_>>().join("\n"));
        }
    }
}

#[test]
fn the_readme_shows_the_layers() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    for (i, (name, modules)) in LAYERS.iter().enumerate().rev() {
        let line = format!("{}. {name}: {}", i + 1, modules.join(", "));
        assert!(readme.contains(&line), "README.md's Layout lacks the line `{line}`");
    }
}
