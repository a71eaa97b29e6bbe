//! The `isLatest` rule, decided per server name.
//!
//! - deleted versions are never latest while an active or deprecated version exists;
//! - semver beats non-semver;
//! - among semver versions, semver precedence (build metadata ignored);
//! - among non-semver versions (and semver ties), the newest `publishedAt`;
//! - remaining ties are broken by the version string, so the result is deterministic.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use crate::entry::Entry;
use crate::version::cmp_precedence;

/// Orders two versions of the same server: `Greater` means `a` is the better latest candidate.
pub fn cmp_candidates(a: &Entry, b: &Entry) -> Ordering {
    let alive = |e: &Entry| !e.is_deleted();
    alive(a)
        .cmp(&alive(b))
        .then_with(|| match (a.server.version().semver(), b.server.version().semver()) {
            (Some(x), Some(y)) => cmp_precedence(&x, &y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.official.published_at.cmp(&b.official.published_at))
        .then_with(|| a.server.version().cmp(b.server.version()))
}

/// Sets `is_latest` on every entry: exactly one per server name.
///
/// `entries` must be sorted by server name (versions of one server adjacent).
pub fn mark_latest(entries: &mut [Entry]) {
    let mut start = 0;
    while start < entries.len() {
        let end = group_end(entries, start);
        let group = &mut entries[start..end];
        let best = best_of(group);
        for (i, e) in group.iter_mut().enumerate() {
            e.official.is_latest = i == best;
        }
        start = end;
    }
}

/// Whether [`mark_latest`] would leave `entries` as they are.
pub fn is_marked(entries: &[Entry]) -> bool {
    let mut start = 0;
    while start < entries.len() {
        let end = group_end(entries, start);
        let group = &entries[start..end];
        let best = best_of(group);
        if group.iter().enumerate().any(|(i, e)| e.official.is_latest != (i == best)) {
            return false;
        }
        start = end;
    }
    true
}

/// The end of the run of entries named like `entries[start]`.
fn group_end(entries: &[Entry], start: usize) -> usize {
    let name = entries[start].server.name();
    start + entries[start..].iter().take_while(|e| e.server.name() == name).count()
}

/// The index of the latest candidate of a non-empty group (the first of equals).
fn best_of(group: &[Entry]) -> usize {
    let mut best = 0;
    for i in 1..group.len() {
        if cmp_candidates(&group[i], &group[best]) == Ordering::Greater {
            best = i;
        }
    }
    best
}

/// Sets `is_latest` on `next` ([`mark_latest`]) and moves `updatedAt` to `now` on every entry
/// whose flag differs from the one it had in `previous`: a reader that applies only what
/// `updated_since` returns then ends with the flags of a full read. Entries new in `next` keep
/// their own `updatedAt` (they are returned as new rows anyway).
///
/// `previous` and `next` must be sorted by (name, version).
pub fn relatest(previous: &[Entry], next: &mut [Entry], now: DateTime<Utc>) {
    relatest_unless(previous, next, now, |_, _| false);
}

/// [`relatest`], except that an entry for which `recorded(index, entry)` holds keeps its
/// `updatedAt`: its source recorded the flag's move itself (an upstream registry whose metadata
/// says the same flag).
pub fn relatest_unless(
    previous: &[Entry],
    next: &mut [Entry],
    now: DateTime<Utc>,
    recorded: impl Fn(usize, &Entry) -> bool,
) {
    mark_latest(next);
    let key = |e: &Entry| (e.server.name().clone(), e.server.version().clone());
    let mut old = previous.iter().peekable();
    for (i, e) in next.iter_mut().enumerate() {
        let k = key(e);
        while old.peek().is_some_and(|o| key(o) < k) {
            old.next();
        }
        if let Some(o) = old.peek().filter(|o| key(o) == k)
            && o.official.is_latest != e.official.is_latest
            && e.official.updated_at < now
            && !recorded(i, e)
        {
            e.official.updated_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{OfficialMeta, Status};
    use crate::names::SourceName;
    use crate::server_json::ServerJson;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;
    use std::sync::Arc;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
    }

    /// (version, published day offset, status)
    fn entries(name: &str, specs: &[(&str, i64, Status)]) -> Vec<Entry> {
        specs
            .iter()
            .map(|(v, day, status)| {
                let server = ServerJson::from_value(json!({"name": name, "description": "d", "version": v})).unwrap();
                let mut official = OfficialMeta::new_active(t0() + Duration::days(*day));
                official.status = *status;
                Entry { server: Arc::new(server), official, source: SourceName::parse("s").unwrap() }
            })
            .collect()
    }

    fn latest_of(specs: &[(&str, i64, Status)]) -> String {
        let mut es = entries("a/b", specs);
        mark_latest(&mut es);
        let latest: Vec<_> = es.iter().filter(|e| e.official.is_latest).collect();
        assert_eq!(latest.len(), 1);
        latest[0].server.version().to_string()
    }

    #[test]
    fn latest_follows_the_official_rule() {
        use Status::{Active as A, Deleted as D, Deprecated as Dep};
        type Case<'a> = (&'a [(&'a str, i64, Status)], &'a str);
        let cases: &[Case] = &[
            (&[("1.0.0", 0, A), ("2.0.0", 1, A)], "2.0.0"),
            (&[("2.0.0", 5, A), ("1.0.0", 9, A)], "2.0.0"),
            (&[("1.10.0", 0, A), ("1.9.0", 1, A)], "1.10.0"),
            (&[("v1.2.0", 0, A), ("1.1.0", 1, A)], "v1.2.0"),
            (&[("2.0.0-beta.1", 0, A), ("1.9.9", 1, A)], "2.0.0-beta.1"),
            (&[("1.0.0-rc.1", 1, A), ("1.0.0", 0, A)], "1.0.0"),
            (&[("snapshot", 9, A), ("0.0.1", 0, A)], "0.0.1"),
            (&[("2021.03.05", 0, A), ("2021.04.01", 3, A)], "2021.04.01"),
            (&[("2021.04.01", 0, A), ("2021.03.05", 3, A)], "2021.03.05"),
            (&[("1.0", 0, A), ("1.0.0.1", 1, A)], "1.0.0.1"),
            (&[("1.0.0+b1", 0, A), ("1.0.0+b2", 1, A)], "1.0.0+b2"),
            (&[("2.0.0", 1, D), ("1.0.0", 0, A)], "1.0.0"),
            (&[("2.0.0", 1, D), ("1.0.0", 0, Dep)], "1.0.0"),
            (&[("2.0.0", 1, D), ("1.0.0", 0, D)], "2.0.0"),
            (&[("1.0.0", 0, Dep), ("0.9.0", 1, A)], "1.0.0"),
            (&[("only", 0, A)], "only"),
        ];
        for (specs, want) in cases {
            assert_eq!(latest_of(specs), *want, "{specs:?}");
        }
    }

    #[test]
    fn a_moved_flag_moves_updated_at_on_both_rows() {
        let mut before = entries("a/b", &[("1.0.0", 0, Status::Active), ("2.0.0", 1, Status::Active)]);
        mark_latest(&mut before);
        let mut after = before.clone();
        after[1].official.status = Status::Deleted;
        let now = t0() + Duration::days(5);
        relatest(&before, &mut after, now);
        assert!(after[0].official.is_latest && !after[1].official.is_latest);
        assert_eq!(after[0].official.updated_at, now, "the row that became latest");
        assert_eq!(after[1].official.updated_at, now, "the row that lost the flag");
        // Nothing moves when the flags stay.
        let mut again = after.clone();
        relatest(&after, &mut again, now + Duration::days(1));
        assert_eq!(again, after);
        // A new version that becomes latest keeps its own time; the old latest moves.
        let mut grown = after.clone();
        grown.extend(entries("a/b", &[("3.0.0", 7, Status::Active)]));
        let later = t0() + Duration::days(8);
        relatest(&after, &mut grown, later);
        assert_eq!(grown[2].official.updated_at, t0() + Duration::days(7));
        assert_eq!(grown[0].official.updated_at, later);
        assert_eq!(grown[1].official.updated_at, now, "not latest before or after");
    }

    #[test]
    fn one_latest_per_server() {
        let mut es = entries("a/b", &[("1.0.0", 0, Status::Active), ("2.0.0", 0, Status::Active)]);
        es.extend(entries("a/c", &[("1.0.0", 0, Status::Active)]));
        es.extend(entries("a/d", &[("alpha", 0, Status::Active), ("beta", 1, Status::Active)]));
        mark_latest(&mut es);
        let flags: Vec<bool> = es.iter().map(|e| e.official.is_latest).collect();
        assert_eq!(flags, vec![false, true, true, false, true]);
    }
}
