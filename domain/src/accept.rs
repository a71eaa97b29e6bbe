//! The accept-or-refuse rule of a sync: never replace good data with bad.
//!
//! A fetch's documents replace a source's entries only when every document can be read and,
//! for a fetch that holds the whole catalogue, when they neither come back empty nor mostly
//! invalid while the previous data was not. Accepted documents are filtered and reconciled with
//! the previous entries (timestamps, tombstones); what was skipped or listed twice becomes notes
//! for the sync status.
//!
//! Adding a rule: add a [`Refusal`] variant, check it in [`accept`] before reconciling, and add
//! rows to the table test.

use chrono::{DateTime, Duration, Utc};

use crate::entry::Entry;
use crate::filter::Filter;
use crate::format::{FormatError, ParsedDocument, ParsedServer};
use crate::names::SourceName;
use crate::reconcile::{Changes, Coverage, reconcile};

/// What a source is configured to accept.
#[derive(Debug, Clone, Copy)]
pub struct AcceptPolicy<'a> {
    /// Servers that pass it are kept; the others are dropped (and become tombstones).
    pub filter: &'a Filter,
    /// Largest share of invalid items a complete fetch may have and still replace data
    /// (`syncPolicy.maxInvalidRatio`).
    pub max_invalid_ratio: f64,
    /// How long a tombstone is kept after its version disappeared.
    pub retention: Duration,
}

/// The next entries of a source, accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Sorted by (name, version), tombstones included.
    pub entries: Vec<Entry>,
    pub changes: Changes,
    /// What was skipped or ignored, one note per document with skipped items, then duplicates.
    pub notes: Vec<String>,
    /// Distinct server names with at least one live version.
    pub server_count: usize,
}

impl Accepted {
    /// The notes as one status message (`None` when there is nothing to say).
    pub fn message(&self) -> Option<String> {
        (!self.notes.is_empty()).then(|| self.notes.join("; "))
    }
}

/// Why a fetch's documents were refused (the previous data stays).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A document cannot be read at all.
    Unusable(FormatError),
    /// A complete fetch holds no servers (after the filter) while `previous` servers were live.
    Emptied {
        previous: usize,
        /// The first document's summary of skipped items, if any were skipped.
        skipped: Option<String>,
    },
    /// More than `max` of a complete fetch's items are invalid while `previous` servers were live.
    MostlyInvalid {
        invalid: usize,
        items: usize,
        max: f64,
        previous: usize,
        /// The first document's summary of skipped items.
        skipped: Option<String>,
    },
}

/// Decides whether a fetch's documents (their parse results, in order) replace `previous`, and
/// if they do, what the next entries are. The first unreadable document refuses the fetch
/// without looking at the rest.
///
/// # Errors
/// A [`Refusal`] saying why the previous data must stay.
pub fn accept(
    source: &SourceName,
    previous: &[Entry],
    documents: impl IntoIterator<Item = Result<ParsedDocument, FormatError>>,
    policy: &AcceptPolicy<'_>,
    now: DateTime<Utc>,
    coverage: Coverage,
) -> Result<Accepted, Refusal> {
    let mut servers: Vec<ParsedServer> = Vec::new();
    let mut skipped = Vec::new();
    let (mut items, mut invalid) = (0usize, 0usize);
    for doc in documents {
        let doc = doc.map_err(Refusal::Unusable)?;
        if let Some(summary) = doc.skipped_summary() {
            skipped.push(summary);
        }
        items += doc.servers.len() + doc.skipped.len();
        invalid += doc.skipped.len();
        let mut found = doc.servers;
        found.retain(|s| policy.filter.matches(&s.server));
        // A source of one document (a file, a git blob) hands its list over as it is.
        if servers.is_empty() {
            servers = found;
        } else {
            servers.append(&mut found);
        }
    }
    let previous_live = live_servers(previous);
    // Only a complete fetch can take data away; with nothing served, anything is better.
    let guarded = coverage == Coverage::Complete && previous_live > 0;
    if guarded && servers.is_empty() {
        return Err(Refusal::Emptied { previous: previous_live, skipped: skipped.first().cloned() });
    }
    // A document whose entries suddenly mostly fail to read is as suspect as an empty one:
    // taking it would turn every entry it lost into a tombstone.
    #[expect(clippy::cast_precision_loss, reason = "entry counts are far below 2^52")]
    let invalid_ratio = if items == 0 { 0.0 } else { invalid as f64 / items as f64 };
    if guarded && invalid_ratio > policy.max_invalid_ratio {
        return Err(Refusal::MostlyInvalid {
            invalid,
            items,
            max: policy.max_invalid_ratio,
            previous: previous_live,
            skipped: skipped.first().cloned(),
        });
    }
    let (entries, changes) = reconcile(source, previous, servers, now, policy.retention, coverage);
    let mut notes = skipped;
    if let Some(first) = changes.duplicates.first() {
        notes.push(format!("{} duplicate version(s) ignored, first: {first}", changes.duplicates.len()));
    }
    let server_count = live_servers(&entries);
    Ok(Accepted { entries, changes, notes, server_count })
}

/// Counts distinct server names with at least one live version in entries sorted by name.
pub fn live_servers(entries: &[Entry]) -> usize {
    let mut count = 0;
    let mut last: Option<&str> = None;
    for e in entries.iter().filter(|e| !e.is_deleted()) {
        let name = e.server.name().as_str();
        if last != Some(name) {
            count += 1;
            last = Some(name);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterSpec;
    use crate::format::{DataFormat, parse_document};
    use crate::server_json::ServerJson;
    use serde_json::json;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(h)
    }

    fn src() -> SourceName {
        SourceName::parse("src").unwrap()
    }

    /// A bare-array document of version `1` of each name; `!` is an item that is not a server.
    fn doc(names: &[&str]) -> String {
        let items: Vec<serde_json::Value> = names
            .iter()
            .map(|n| if *n == "!" { json!(42) } else { json!({"name": n, "description": "d", "version": "1"}) })
            .collect();
        serde_json::Value::Array(items).to_string()
    }

    /// Live entries of version `1` of each name, as a first sync made them.
    fn previous(names: &[&str]) -> Vec<Entry> {
        let servers = names
            .iter()
            .map(|n| ParsedServer {
                server: ServerJson::from_value(json!({"name": n, "description": "d", "version": "1"})).unwrap().into(),
                official: None,
            })
            .collect();
        reconcile(&src(), &[], servers, at(0), Duration::days(30), Coverage::Complete).0
    }

    enum Expect {
        /// Live and deleted server names, and a text each note contains (one per note).
        Accepted {
            live: &'static [&'static str],
            deleted: &'static [&'static str],
            notes: &'static [&'static str],
        },
        Refused(Refusal),
    }

    struct Case {
        what: &'static str,
        previous: &'static [&'static str],
        docs: Vec<String>,
        exclude: &'static [&'static str],
        max_invalid_ratio: f64,
        coverage: Coverage,
        expect: Expect,
    }

    fn case(what: &'static str, previous: &'static [&'static str], docs: Vec<String>, expect: Expect) -> Case {
        Case { what, previous, docs, exclude: &[], max_invalid_ratio: 0.5, coverage: Coverage::Complete, expect }
    }

    fn accepted(
        live: &'static [&'static str],
        deleted: &'static [&'static str],
        notes: &'static [&'static str],
    ) -> Expect {
        Expect::Accepted { live, deleted, notes }
    }

    const NOT_A_SERVER: &str = "server.json must be a JSON object";

    /// The summary of `n` skipped items of a bare array, the first at `first`.
    fn skipped(n: usize, first: usize) -> String {
        format!("{n} item(s) skipped; first: [{first}]: {NOT_A_SERVER}")
    }

    /// The table, complete fetches without a filter: every rule, each way round.
    fn complete_fetches() -> Vec<Case> {
        vec![
            case(
                "a good document, nothing before",
                &[],
                vec![doc(&["a/b", "a/c"])],
                accepted(&["a/b", "a/c"], &[], &[]),
            ),
            case(
                "a good document: what it lost becomes a tombstone",
                &["a/b", "a/c"],
                vec![doc(&["a/b"])],
                accepted(&["a/b"], &["a/c"], &[]),
            ),
            case(
                "an unreadable document refuses the whole fetch",
                &["a/b"],
                vec![doc(&["a/b"]), r#"{"nope": 1}"#.to_owned()],
                Expect::Refused(Refusal::Unusable(FormatError::Unrecognised)),
            ),
            case(
                "an unreadable document refuses with nothing before",
                &[],
                vec!["  ".to_owned()],
                Expect::Refused(Refusal::Unusable(FormatError::Empty)),
            ),
            case(
                "empty when there was data",
                &["a/b"],
                vec![doc(&[])],
                Expect::Refused(Refusal::Emptied { previous: 1, skipped: None }),
            ),
            case(
                "empty of servers when there was data, naming what was skipped",
                &["a/b", "a/c"],
                vec![doc(&["!"])],
                Expect::Refused(Refusal::Emptied { previous: 2, skipped: Some(skipped(1, 0)) }),
            ),
            case("empty when there was nothing", &[], vec![doc(&[])], accepted(&[], &[], &[])),
            case(
                "mostly invalid when there was data",
                &["a/b"],
                vec![doc(&["a/b", "!", "!"])],
                Expect::Refused(Refusal::MostlyInvalid {
                    invalid: 2,
                    items: 3,
                    max: 0.5,
                    previous: 1,
                    skipped: Some(skipped(2, 1)),
                }),
            ),
            case(
                "mostly invalid when there was nothing",
                &[],
                vec![doc(&["a/b", "!", "!"])],
                accepted(&["a/b"], &[], &["2 item(s) skipped; first: [1]"]),
            ),
            case(
                "invalid at exactly the limit",
                &["a/b"],
                vec![doc(&["a/b", "!"])],
                accepted(&["a/b"], &[], &["1 item(s) skipped; first: [1]"]),
            ),
            case(
                "pages are one fetch, each page's skipped items a note",
                &["a/b"],
                vec![doc(&["a/b", "!"]), doc(&["!", "a/c"])],
                accepted(&["a/b", "a/c"], &[], &["1 item(s) skipped; first: [1]", "1 item(s) skipped; first: [0]"]),
            ),
        ]
    }

    /// The table, deltas and filters.
    fn deltas_and_filters() -> Vec<Case> {
        vec![
            Case {
                coverage: Coverage::Delta,
                ..case(
                    "a delta never tombstones",
                    &["a/b", "a/c"],
                    vec![doc(&["a/c"])],
                    accepted(&["a/b", "a/c"], &[], &[]),
                )
            },
            Case {
                coverage: Coverage::Delta,
                ..case("an empty delta is no change", &["a/b"], vec![doc(&[])], accepted(&["a/b"], &[], &[]))
            },
            Case {
                max_invalid_ratio: 0.0,
                coverage: Coverage::Delta,
                ..case(
                    "a mostly invalid delta",
                    &["a/b"],
                    vec![doc(&["a/c", "!"])],
                    accepted(&["a/b", "a/c"], &[], &["1 item(s) skipped"]),
                )
            },
            Case {
                exclude: &["a/c"],
                ..case(
                    "the filter drops a server: it becomes a tombstone",
                    &["a/b", "a/c"],
                    vec![doc(&["a/b", "a/c"])],
                    accepted(&["a/b"], &["a/c"], &[]),
                )
            },
            Case {
                exclude: &["a/*"],
                ..case(
                    "the filter drops every server",
                    &["a/b"],
                    vec![doc(&["a/b"])],
                    Expect::Refused(Refusal::Emptied { previous: 1, skipped: None }),
                )
            },
            case(
                "duplicates keep the first and are noted",
                &[],
                vec![doc(&["a/b", "a/b"])],
                accepted(&["a/b"], &[], &["1 duplicate version(s) ignored, first: a/b@1"]),
            ),
        ]
    }

    #[test]
    fn accept_or_refuse() {
        for c in complete_fetches().into_iter().chain(deltas_and_filters()) {
            check(c);
        }
    }

    fn check(c: Case) {
        let mut spec = FilterSpec::default();
        spec.names.exclude = c.exclude.iter().map(|s| (*s).to_owned()).collect();
        let filter = Filter::new(&spec).unwrap();
        let policy =
            AcceptPolicy { filter: &filter, max_invalid_ratio: c.max_invalid_ratio, retention: Duration::days(30) };
        let documents = c.docs.iter().map(|d| parse_document(d.as_bytes(), DataFormat::Auto));
        let got = accept(&src(), &previous(c.previous), documents, &policy, at(1), c.coverage);
        match (c.expect, got) {
            (Expect::Accepted { live, deleted, notes }, Ok(got)) => {
                let names = |dead: bool| -> Vec<&str> {
                    got.entries.iter().filter(|e| e.is_deleted() == dead).map(|e| e.server.name().as_str()).collect()
                };
                assert_eq!((names(false), names(true)), (live.to_vec(), deleted.to_vec()), "{}", c.what);
                assert_eq!(got.server_count, live.len(), "{}", c.what);
                assert_eq!(got.notes.len(), notes.len(), "{}: {:?}", c.what, got.notes);
                for (note, want) in got.notes.iter().zip(notes) {
                    assert!(note.contains(want), "{}: {note:?} should contain {want:?}", c.what);
                }
            }
            (Expect::Refused(want), Err(got)) => assert_eq!(got, want, "{}", c.what),
            (Expect::Accepted { .. }, Err(got)) => panic!("{}: refused: {got:?}", c.what),
            (Expect::Refused(want), Ok(got)) => panic!("{}: accepted {:?}, want {want:?}", c.what, got.entries),
        }
    }

    #[test]
    fn notes_become_one_message() {
        let filter = Filter::default();
        let policy = AcceptPolicy { filter: &filter, max_invalid_ratio: 1.0, retention: Duration::days(1) };
        let docs = [doc(&["a/b", "a/b", "!"])];
        let documents = docs.iter().map(|d| parse_document(d.as_bytes(), DataFormat::Auto));
        let got = accept(&src(), &[], documents, &policy, at(0), Coverage::Complete).unwrap();
        assert_eq!(
            got.message().as_deref(),
            Some(
                format!("1 item(s) skipped; first: [2]: {NOT_A_SERVER}; 1 duplicate version(s) ignored, first: a/b@1")
                    .as_str()
            )
        );
        let clean = [doc(&["a/b"])];
        let documents = clean.iter().map(|d| parse_document(d.as_bytes(), DataFormat::Auto));
        assert_eq!(accept(&src(), &[], documents, &policy, at(0), Coverage::Complete).unwrap().message(), None);
    }
}
