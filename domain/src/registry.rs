//! Merging a registry's ordered sources into one list of entries.
//!
//! A server name comes whole from the first source (in the registry's order) that has a live
//! (not deleted) version of it; versions are never mixed across sources. When no source has a live
//! version, the first source that has the name at all provides its tombstones. The registry's
//! filter applies on top, then `isLatest` is computed per name.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::entry::Entry;
use crate::filter::Filter;
use crate::latest::{is_marked, mark_latest};
use crate::names::ServerName;

/// [`merge`] of sources' shared lists. A registry of one source, with no filter of its own, whose
/// `isLatest` flags are already set as [`merge`] sets them, is the source's list itself: a
/// registry's entries are then held once, by its source and its snapshot alike.
pub fn merge_shared(sources: &[Arc<Vec<Entry>>], filter: &Filter) -> Arc<Vec<Entry>> {
    if let [only] = sources
        && filter.is_pass_all()
        && only.is_sorted_by(|a, b| a.server.name() <= b.server.name())
        && is_marked(only)
    {
        return Arc::clone(only);
    }
    let slices: Vec<&[Entry]> = sources.iter().map(|p| p.as_slice()).collect();
    Arc::new(merge(&slices, filter))
}

/// Merges the entries of ordered sources (each sorted by (name, version)), applies `filter`, and
/// computes `isLatest`. The result is sorted by (name, version).
pub fn merge(sources: &[&[Entry]], filter: &Filter) -> Vec<Entry> {
    // name -> (source index, range in that source, has a live version)
    let mut chosen: BTreeMap<&ServerName, (usize, Range<usize>, bool)> = BTreeMap::new();
    for (i, entries) in sources.iter().enumerate() {
        for (range, live) in groups(entries) {
            let name = entries[range.start].server.name();
            match chosen.get(name) {
                Some((_, _, true)) => {}
                Some((_, _, false)) if !live => {}
                _ => {
                    chosen.insert(name, (i, range, live));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, range, _) in chosen.into_values() {
        let group = &sources[i][range];
        if filter.is_pass_all() || filter.matches(&group[0].server) {
            out.extend(group.iter().cloned());
        }
    }
    mark_latest(&mut out);
    out
}

/// Ranges of consecutive entries with the same name, and whether any of them is live.
fn groups(entries: &[Entry]) -> impl Iterator<Item = (Range<usize>, bool)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = entries.get(start)?;
        let len = entries[start..].iter().take_while(|e| e.server.name() == first.server.name()).count();
        let range = start..start + len;
        start += len;
        let live = entries[range.clone()].iter().any(|e| !e.is_deleted());
        Some((range, live))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{OfficialMeta, Status};
    use crate::filter::{FilterSpec, IncludeExclude};
    use crate::names::SourceName;
    use crate::server_json::ServerJson;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn e(source: &str, name: &str, version: &str, deleted: bool) -> Entry {
        let server = ServerJson::from_value(json!({"name": name, "description": source, "version": version})).unwrap();
        let mut official = OfficialMeta::new_active(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        if deleted {
            official.status = Status::Deleted;
        }
        Entry { server: Arc::new(server), official, source: SourceName::parse(source).unwrap() }
    }

    fn summary(es: &[Entry]) -> Vec<String> {
        es.iter()
            .map(|e| {
                format!(
                    "{}@{}<{}{}",
                    e.server.name(),
                    e.server.version(),
                    e.source,
                    if e.official.is_latest { "*" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn first_source_wins_whole_names() {
        let a = vec![e("a", "x/one", "1", false), e("a", "x/two", "1", false)];
        let b = vec![e("b", "x/one", "2", false), e("b", "x/three", "1", false), e("b", "x/two", "5", false)];
        let merged = merge(&[&a, &b], &Filter::default());
        assert_eq!(summary(&merged), vec!["x/one@1<a*", "x/three@1<b*", "x/two@1<a*"]);
    }

    #[test]
    fn tombstones_do_not_shadow_a_live_server_from_a_later_source() {
        let a = vec![e("a", "x/one", "1", true), e("a", "x/gone", "1", true)];
        let b = vec![e("b", "x/one", "2", false)];
        let merged = merge(&[&a, &b], &Filter::default());
        assert_eq!(summary(&merged), vec!["x/gone@1<a*", "x/one@2<b*"]);
    }

    #[test]
    fn registry_filter_applies_on_top() {
        let a = vec![e("a", "x/one", "1", false), e("a", "y/two", "1", false)];
        let spec =
            FilterSpec { names: IncludeExclude { include: vec!["x/*".into()], exclude: vec![] }, ..Default::default() };
        let merged = merge(&[&a], &Filter::new(&spec).unwrap());
        assert_eq!(summary(&merged), vec!["x/one@1<a*"]);
    }

    /// Sources, the registry's filter, and whether the merge is the one source's list itself.
    type Case<'a> = (&'a [Arc<Vec<Entry>>], &'a Filter, bool);

    #[test]
    fn a_lone_marked_source_is_shared_and_anything_else_is_merged() {
        let marked = |mut es: Vec<Entry>| {
            mark_latest(&mut es);
            Arc::new(es)
        };
        let a = marked(vec![e("a", "x/one", "1", false), e("a", "x/one", "2", false), e("a", "y/two", "1", true)]);
        let b = marked(vec![e("b", "x/one", "3", false), e("b", "z/three", "1", false)]);
        let x_only = Filter::new(&FilterSpec {
            names: IncludeExclude { include: vec!["x/*".into()], exclude: vec![] },
            ..Default::default()
        })
        .unwrap();
        // The flag on the older version: merging moves it, so the list is not shared.
        let mut stale = (*a).clone();
        stale[0].official.is_latest = true;
        stale[1].official.is_latest = false;
        let stale = Arc::new(stale);
        let cases: [Case<'_>; 5] = [
            (std::slice::from_ref(&a), &Filter::default(), true),
            (&[a.clone(), b.clone()], &Filter::default(), false),
            (std::slice::from_ref(&a), &x_only, false),
            (std::slice::from_ref(&stale), &Filter::default(), false),
            (&[], &Filter::default(), false),
        ];
        for (i, (sources, filter, shared)) in cases.into_iter().enumerate() {
            let got = merge_shared(sources, filter);
            let slices: Vec<&[Entry]> = sources.iter().map(|s| s.as_slice()).collect();
            assert_eq!(*got, merge(&slices, filter), "case {i}");
            assert_eq!(sources.iter().any(|s| Arc::ptr_eq(s, &got)), shared, "case {i}");
        }
    }
}
