//! Records the git commit and build time for `version` and `/version`.

use std::process::Command;

/// The trimmed standard output of a command, or `unknown` when it cannot run.
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned())
}

fn main() {
    println!("cargo:rustc-env=THV_GIT_COMMIT={}", output_of("git", &["rev-parse", "--short=12", "HEAD"]));
    println!("cargo:rustc-env=THV_BUILD_TIME={}", output_of("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
