//! Upkeep of a source's bare clone: files a crash leaves behind, and when to start it over.
//!
//! gix has no `gc`: every fetch that brings new commits adds a pack, and nothing ever removes
//! one. Deleting old packs by hand would need a reachability walk (a new pack of a shallow fetch
//! holds only the objects that changed, the rest still lives in older packs), so instead a
//! clone whose packs have piled up is started over: the next fetch of the branch or tag is a
//! fresh shallow clone, which costs one download of the tip rather than of a change. That
//! happens when there are [`MAX_PACKS`] packs, or when the packs added since the clone together
//! outweigh the largest one (the clone itself): the directory then never holds much more than
//! twice what a fresh clone does.

use std::io::ErrorKind;
use std::path::Path;

/// Packs a clone may hold before its next fetch starts it over.
pub(super) const MAX_PACKS: usize = 8;

/// Whether the clone in `dir` should be started over before its next fetch of a moving ref.
pub(super) fn is_bloated(dir: &Path) -> bool {
    let Ok(items) = std::fs::read_dir(dir.join("objects").join("pack")) else { return false };
    let sizes: Vec<u64> = items
        .flatten()
        .filter(|item| item.path().extension().is_some_and(|e| e == "pack"))
        .filter_map(|item| item.metadata().ok().map(|m| m.len()))
        .collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let total: u64 = sizes.iter().sum();
    sizes.len() >= MAX_PACKS || total - largest > largest
}

/// Removes what a process that died mid-fetch leaves behind: lock files (the next fetch would
/// fail to take the lock: this source's fetches are serialised, so none is held) and
/// half-written packs.
pub(super) fn remove_leftovers(dir: &Path) {
    let is_lock = |name: &str| Path::new(name).extension().is_some_and(|e| e == "lock");
    remove_matching(dir, false, &is_lock);
    remove_matching(&dir.join("refs"), true, &is_lock);
    let is_temporary = |name: &str| name.starts_with(".tmp") || name.starts_with("tmp_");
    remove_matching(&dir.join("objects").join("pack"), false, &is_temporary);
}

/// Removes the files in `dir` (and, with `recurse`, below it) whose name `matches`.
fn remove_matching(dir: &Path, recurse: bool, matches: &dyn Fn(&str) -> bool) {
    let Ok(items) = std::fs::read_dir(dir) else { return };
    for item in items.flatten() {
        let path = item.path();
        if item.file_type().is_ok_and(|t| t.is_dir()) {
            if recurse {
                remove_matching(&path, true, matches);
            }
            continue;
        }
        if !item.file_name().to_str().is_some_and(matches) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed a file an interrupted fetch left in the git cache");
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a file left in the git cache"),
        }
    }
}

pub(super) fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// Removes everything inside `dir`, keeping `dir` itself (it may be a mount point).
pub(super) fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let result = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match result {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(dir: &Path, name: &str, len: usize) {
        std::fs::write(dir.join(format!("{name}.pack")), vec![0; len]).unwrap();
        std::fs::write(dir.join(format!("{name}.idx")), vec![0; 4096]).unwrap();
    }

    #[test]
    fn a_clone_is_bloated_by_many_packs_or_by_increments_outweighing_the_clone() {
        let root = tempfile::tempdir().unwrap();
        let packs = root.path().join("objects/pack");
        assert!(!is_bloated(root.path()), "no packs yet");
        std::fs::create_dir_all(&packs).unwrap();
        pack(&packs, "clone", 1000);
        pack(&packs, "a", 400);
        pack(&packs, "b", 600);
        assert!(!is_bloated(root.path()), "increments of 1000 bytes do not outweigh a clone of 1000");
        pack(&packs, "c", 1);
        assert!(is_bloated(root.path()));
        let root = tempfile::tempdir().unwrap();
        let packs = root.path().join("objects/pack");
        std::fs::create_dir_all(&packs).unwrap();
        pack(&packs, "clone", 1 << 20);
        for i in 1..MAX_PACKS {
            pack(&packs, &format!("p{i}"), 10);
        }
        assert!(is_bloated(root.path()), "{MAX_PACKS} packs");
    }

    #[test]
    fn leftovers_are_removed_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::create_dir_all(dir.join("refs/heads/feature")).unwrap();
        std::fs::create_dir_all(dir.join("objects/pack")).unwrap();
        let kept = ["HEAD", "refs/heads/main", "objects/pack/p.pack", "objects/pack/p.idx", "objects/pack/p.keep"];
        let gone = ["shallow.lock", "refs/heads/main.lock", "refs/heads/feature/x.lock", "objects/pack/.tmpAbc"];
        for file in kept.iter().chain(&gone) {
            std::fs::write(dir.join(file), b"x").unwrap();
        }
        remove_leftovers(dir);
        for file in kept {
            assert!(dir.join(file).exists(), "{file} kept");
        }
        for file in gone {
            assert!(!dir.join(file).exists(), "{file} removed");
        }
    }
}
