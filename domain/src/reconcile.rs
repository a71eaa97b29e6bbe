//! Turning freshly fetched servers into the next entries of a source.
//!
//! For servers without official metadata of their own (files, git):
//! - `publishedAt` is the first time this (name, version) was seen by this source;
//! - `updatedAt` is the last time its content changed (or it came back from deletion);
//! - a version that disappears becomes a tombstone (`status: deleted`, `updatedAt` = removal
//!   time), kept until `retention` has passed since the removal.
//!
//! Servers that carry official metadata (an upstream registry's API page) keep it as is (their
//! `updatedAt` never going back); only their disappearance is recorded as a tombstone.
//!
//! `isLatest` is computed here, per name over the source's versions (a registry takes a name's
//! versions whole from one source, so this is the registry's flag too), and a row whose flag
//! changes gets `updatedAt = now` — unless it came from an upstream whose metadata gives the same
//! flag: that upstream recorded the move (with its own `updatedAt`), and a mirror keeps its rows
//! as they are.

use chrono::{DateTime, Duration, Utc};

use crate::entry::{Entry, OfficialMeta, Status};
use crate::format::ParsedServer;
use crate::latest::relatest_unless;
use crate::names::SourceName;
use crate::server_json::ServerJson;

/// What changed between the previous and the next entries of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Versions listed more than once in the fetched data (the first one was kept).
    pub duplicates: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.updated == 0 && self.removed == 0
    }
}

/// How a fetch relates to the previous data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The fetch holds the whole catalogue: a previous version absent from it was removed.
    Complete,
    /// The fetch holds only what changed: previous versions absent from it are kept as they are.
    Delta,
}

/// The (name, version) a row is sorted and matched by, borrowed from its server.
fn key(server: &ServerJson) -> (&str, &str) {
    (server.name().as_str(), server.version().as_str())
}

/// Computes the next entries of `source` from its previous entries and the fetched servers.
/// The result is sorted by (name, version), with `isLatest` computed per name; a row whose flag
/// moved gets `updatedAt = now` ([`relatest`]), so incremental readers learn of it.
///
/// Both sides are put in (name, version) order and walked together, so no key is copied and no
/// map is built: a catalogue's sync holds its fetched servers and the next entries, nothing more.
pub fn reconcile(
    source: &SourceName,
    previous: &[Entry],
    mut fetched: Vec<ParsedServer>,
    now: DateTime<Utc>,
    retention: Duration,
    coverage: Coverage,
) -> (Vec<Entry>, Changes) {
    let mut changes = Changes::default();
    // A stable sort keeps versions listed twice in fetch order: the first one is kept.
    fetched.sort_by(|a, b| key(&a.server).cmp(&key(&b.server)));
    fetched.dedup_by(|later, kept| {
        let duplicate = key(&later.server) == key(&kept.server);
        if duplicate {
            changes.duplicates.push(format!("{}@{}", later.server.name(), later.server.version()));
        }
        duplicate
    });
    let mut prev: Vec<&Entry> = previous.iter().collect();
    if !prev.is_sorted_by(|a, b| key(&a.server) <= key(&b.server)) {
        prev.sort_by(|a, b| key(&a.server).cmp(&key(&b.server)));
    }
    let mut prev = prev.into_iter().peekable();

    let mut next = Next::with_capacity(fetched.len().max(previous.len()));
    for parsed in fetched {
        let k = key(&parsed.server);
        while let Some(o) = prev.next_if(|o| key(&o.server) < k) {
            next.push_absent(absent(o, now, retention, coverage, &mut changes));
        }
        let old = prev.next_if(|o| key(&o.server) == k);
        // A key stored twice (never written so) counts once.
        while prev.next_if(|o| key(&o.server) == k).is_some() {}
        let hash = *parsed.server.content_hash();
        let mut flag = None;
        let official = match (parsed.official, old) {
            (Some(upstream), old) => {
                let mut upstream = *upstream;
                flag = Some(upstream.is_latest);
                // `updatedAt` never goes back: this source may have moved it (a moved latest
                // flag) after the upstream did.
                if let Some(o) = old
                    && o.official.updated_at > upstream.updated_at
                {
                    upstream.updated_at = o.official.updated_at;
                }
                count(
                    &mut changes,
                    old.map(|o| {
                        *o.server.content_hash() == hash
                            && o.official == OfficialMeta { is_latest: o.official.is_latest, ..upstream.clone() }
                    }),
                );
                upstream
            }
            (None, None) => {
                changes.added += 1;
                OfficialMeta::new_active(now)
            }
            (None, Some(old)) => {
                let revived = old.is_deleted();
                let modified = *old.server.content_hash() != hash;
                count(&mut changes, Some(!revived && !modified));
                let mut meta = old.official.clone();
                if revived {
                    meta.status = Status::Active;
                    meta.status_changed_at = now;
                    meta.status_message = None;
                }
                if revived || modified {
                    meta.updated_at = now;
                }
                meta
            }
        };
        next.push(Entry { server: parsed.server, official, source: source.clone() }, flag);
    }
    for old in prev {
        next.push_absent(absent(old, now, retention, coverage, &mut changes));
    }
    let Next { mut entries, given } = next;
    // Where the upstream's flag agrees with ours, the upstream moved `updatedAt` itself (or the
    // flag did not move there).
    relatest_unless(previous, &mut entries, now, |i, e| given[i] == Some(e.official.is_latest));
    (entries, changes)
}

/// The next entries as they are put together, in (name, version) order, with the `isLatest`
/// flag an upstream's metadata gave each (only entries that came with it in this fetch have one).
struct Next {
    entries: Vec<Entry>,
    given: Vec<Option<bool>>,
}

impl Next {
    fn with_capacity(n: usize) -> Self {
        Self { entries: Vec::with_capacity(n), given: Vec::with_capacity(n) }
    }

    fn push(&mut self, entry: Entry, given: Option<bool>) {
        self.entries.push(entry);
        self.given.push(given);
    }

    /// What [`absent`] keeps of a previous entry the fetch does not hold.
    fn push_absent(&mut self, kept: Option<Entry>) {
        if let Some(entry) = kept {
            self.push(entry, None);
        }
    }
}

/// What becomes of a previous entry the fetch does not hold: kept as it is (an incremental
/// fetch; a tombstone within its retention), a new tombstone, or nothing (a tombstone past its
/// retention).
fn absent(
    old: &Entry,
    now: DateTime<Utc>,
    retention: Duration,
    coverage: Coverage,
    changes: &mut Changes,
) -> Option<Entry> {
    if coverage == Coverage::Delta && !old.is_deleted() {
        return Some(old.clone());
    }
    if old.is_deleted() {
        // A retention too long to add to the date never ends (it does not overflow).
        let kept = old.official.status_changed_at.checked_add_signed(retention).is_none_or(|until| until > now);
        return kept.then(|| old.clone());
    }
    changes.removed += 1;
    let mut tomb = old.clone();
    tomb.official.status = Status::Deleted;
    tomb.official.status_changed_at = now;
    tomb.official.updated_at = now;
    tomb.official.status_message = Some("removed from source".to_owned());
    Some(tomb)
}

fn count(changes: &mut Changes, same: Option<bool>) {
    match same {
        None => changes.added += 1,
        Some(true) => changes.unchanged += 1,
        Some(false) => changes.updated += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_json::ServerJson;
    use serde_json::json;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(h)
    }

    fn parsed(name: &str, version: &str, desc: &str) -> ParsedServer {
        ParsedServer {
            server: ServerJson::from_value(json!({"name": name, "description": desc, "version": version}))
                .unwrap()
                .into(),
            official: None,
        }
    }

    fn src() -> SourceName {
        SourceName::parse("src").unwrap()
    }

    fn find<'a>(es: &'a [Entry], name: &str, v: &str) -> &'a Entry {
        es.iter().find(|e| e.server.name().as_str() == name && e.server.version().as_str() == v).unwrap()
    }

    #[test]
    fn timestamps_track_first_seen_and_last_change() {
        let ret = Duration::days(30);
        let (e1, c1) = reconcile(
            &src(),
            &[],
            vec![parsed("a/b", "1", "x"), parsed("a/c", "1", "x")],
            at(0),
            ret,
            Coverage::Complete,
        );
        assert_eq!((c1.added, c1.updated, c1.removed), (2, 0, 0));

        let (e2, c2) = reconcile(
            &src(),
            &e1,
            vec![parsed("a/b", "1", "x"), parsed("a/c", "1", "changed")],
            at(1),
            ret,
            Coverage::Complete,
        );
        assert_eq!((c2.added, c2.updated, c2.unchanged), (0, 1, 1));
        assert_eq!(find(&e2, "a/b", "1").official.updated_at, at(0));
        let c = find(&e2, "a/c", "1");
        assert_eq!((c.official.published_at, c.official.updated_at), (at(0), at(1)));
    }

    #[test]
    fn removed_versions_become_tombstones_until_retention_ends_and_can_come_back() {
        let ret = Duration::hours(10);
        let (e1, _) = reconcile(
            &src(),
            &[],
            vec![parsed("a/b", "1", "x"), parsed("a/b", "2", "x")],
            at(0),
            ret,
            Coverage::Complete,
        );
        let (e2, c2) = reconcile(&src(), &e1, vec![parsed("a/b", "2", "x")], at(1), ret, Coverage::Complete);
        assert_eq!(c2.removed, 1);
        let tomb = find(&e2, "a/b", "1");
        assert_eq!(tomb.official.status, Status::Deleted);
        assert_eq!((tomb.official.updated_at, tomb.official.published_at), (at(1), at(0)));

        let (e3, c3) = reconcile(&src(), &e2, vec![parsed("a/b", "2", "x")], at(5), ret, Coverage::Complete);
        assert!(c3.is_empty());
        assert_eq!(find(&e3, "a/b", "1").official.updated_at, at(1));

        let (e4, _) = reconcile(&src(), &e3, vec![parsed("a/b", "2", "x")], at(12), ret, Coverage::Complete);
        assert_eq!(e4.len(), 1);

        let (e5, c5) = reconcile(
            &src(),
            &e3,
            vec![parsed("a/b", "1", "x"), parsed("a/b", "2", "x")],
            at(6),
            ret,
            Coverage::Complete,
        );
        assert_eq!(c5.updated, 1);
        let back = find(&e5, "a/b", "1");
        assert_eq!(
            (back.official.status, back.official.updated_at, back.official.published_at),
            (Status::Active, at(6), at(0))
        );
    }

    #[test]
    fn a_retention_too_long_for_a_date_keeps_tombstones_and_does_not_panic() {
        // What a `tombstoneRetention` beyond chrono's range becomes (`from_std` fails).
        for ret in [Duration::MAX, Duration::days(3_000_000_000 / 24)] {
            let v1 = || vec![parsed("a/b", "1", "x"), parsed("a/b", "2", "x")];
            let (e1, _) = reconcile(&src(), &[], v1(), at(0), ret, Coverage::Complete);
            let (e2, c2) = reconcile(&src(), &e1, vec![parsed("a/b", "2", "x")], at(1), ret, Coverage::Complete);
            assert_eq!(c2.removed, 1);
            let (e3, c3) = reconcile(&src(), &e2, vec![parsed("a/b", "2", "x")], at(100), ret, Coverage::Complete);
            assert!(c3.is_empty());
            assert_eq!(find(&e3, "a/b", "1").official.status, Status::Deleted, "kept as a tombstone");
        }
    }

    #[test]
    fn duplicates_keep_the_first_and_are_reported() {
        let (es, c) = reconcile(
            &src(),
            &[],
            vec![parsed("a/b", "1", "first"), parsed("a/b", "1", "second")],
            at(0),
            Duration::days(1),
            Coverage::Complete,
        );
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].server.description(), "first");
        assert_eq!(c.duplicates, vec!["a/b@1".to_owned()]);
    }

    #[test]
    fn a_delta_keeps_versions_it_does_not_mention() {
        let ret = Duration::days(1);
        let (e1, _) = reconcile(
            &src(),
            &[],
            vec![parsed("a/b", "1", "x"), parsed("a/c", "1", "x")],
            at(0),
            ret,
            Coverage::Complete,
        );
        let (e2, c2) = reconcile(&src(), &e1, vec![parsed("a/c", "1", "y")], at(1), ret, Coverage::Delta);
        assert_eq!((c2.updated, c2.removed), (1, 0));
        assert_eq!(find(&e2, "a/b", "1").official.status, Status::Active);
        assert_eq!(find(&e2, "a/c", "1").official.updated_at, at(1));
    }

    #[test]
    fn upstream_metadata_is_kept() {
        let mut p = parsed("a/b", "1", "x");
        let mut meta = OfficialMeta::new_active(at(-100));
        meta.status = Status::Deprecated;
        meta.updated_at = at(-50);
        p.official = Some(Box::new(meta.clone()));
        let (es, _) = reconcile(&src(), &[], vec![p.clone()], at(0), Duration::days(1), Coverage::Complete);
        assert_eq!(es[0].official, OfficialMeta { is_latest: true, ..meta.clone() }, "the flag is ours");
        // A time this source moved it to stays: `updatedAt` never goes back.
        let mut moved = es.clone();
        moved[0].official.updated_at = at(-10);
        let (again, changes) = reconcile(&src(), &moved, vec![p], at(1), Duration::days(1), Coverage::Complete);
        assert_eq!(again[0].official.updated_at, at(-10));
        assert_eq!(changes.unchanged, 1);
    }
}
