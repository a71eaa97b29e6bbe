//! `openapi-diff OLD.yaml NEW.yaml`: the differences between two OpenAPI 3.0 documents (YAML or
//! JSON), one a line, `breaking:` or `compatible:` first, then a count. Exits 1 when any is
//! breaking, 0 when none is, 2 when a document cannot be read. `scripts/api-compat` runs it on
//! `docs/openapi.yaml` against a baseline; the rules are in `thv_testkit::apidiff`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use thv_testkit::apidiff::{diff, parse_document};

fn main() -> ExitCode {
    match run() {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            eprintln!("openapi-diff: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether a breaking change was found.
fn run() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old, new] = args.as_slice() else { bail!("usage: openapi-diff OLD.yaml NEW.yaml") };
    let findings = diff(&read(Path::new(old))?, &read(Path::new(new))?);
    for finding in &findings {
        let kind = if finding.breaking { "breaking:  " } else { "compatible:" };
        println!("{kind} {finding}");
    }
    let breaking = findings.iter().filter(|f| f.breaking).count();
    println!("{breaking} breaking, {} compatible change(s)", findings.len() - breaking);
    Ok(breaking > 0)
}

fn read(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_document(&text).with_context(|| format!("parsing {}", path.display()))
}
