//! Rebuild when a migration is added: `sqlx::migrate!` embeds the files but does not watch the
//! directory for new ones.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
