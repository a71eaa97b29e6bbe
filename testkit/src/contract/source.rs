//! The `Source` contract: what every source adapter must do, whatever it reads from. Each check
//! is a function of its own, called with a [`SourceFixture`] that serves the catalogue of
//! [`catalogue`] (or, for an API, the rows of [`api_rows`]) from the real thing: a file, an HTTP
//! server on 127.0.0.1, a git repository, another registry's API.
//!
//! | check | what it asks of the adapter |
//! |---|---|
//! | [`unchanged_when_since_is_current`] | a fetch given the current revision answers [`Fetched::Unchanged`] |
//! | [`missing_is_not_found`] | a location that does not exist is [`SourceError::NotFound`], naming it |
//! | [`over_the_limit_is_too_large`] | data over the configured size limit is [`SourceError::TooLarge`], naming the limit |
//! | [`completeness_flag`] | a first fetch is `complete`; after a change, a fetch from the old revision is complete or holds only the changes, as [`Listing`] says |
//! | [`no_secret_shown`] | no configured secret in `describe()`, the source's `Debug`, nor in any error's `Display` or `Debug` |
//!
//! Not every check applies to every kind; these are left out of the table that runs the suite
//! (`adapters/tests/it/source_contract.rs`), by design:
//! - `file` × [`no_secret_shown`]: a file source is configured with a path and a size limit only;
//!   it has no secret to show.
//!
//! Adding a source kind: implement [`SourceFixture`] for it next to the others and add its row
//! to the table.

#![expect(clippy::unwrap_used, reason = "a contract suite fails the test by panicking")]

use bytes::Bytes;
use serde_json::{Value, json};
use thv_domain::Revision;
use thv_domain::format::{DataFormat, parse_document};
use thv_ports::{Fetched, Source, SourceError};

use crate::{OFFICIAL, server_json};

/// The servers of the catalogue: `(name, description before the change, after it)`. The change
/// touches the second one only.
const SERVERS: [(&str, &str, &str); 2] =
    [("io.example/alpha", "alpha", "alpha"), ("io.example/beta", "beta", "beta, changed")];

/// `updatedAt` of the rows of [`api_rows`] (the second one's after the change).
const UPDATED_AT: [&str; 2] = ["2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z"];
const CHANGED_AT: &str = "2026-03-01T11:00:00Z";

/// The catalogue a file-like source serves, as a file (a bare array of server.json), before or
/// after the change.
pub fn catalogue(changed: bool) -> Vec<u8> {
    let servers: Vec<Value> = SERVERS
        .iter()
        .map(|(name, before, after)| server_json(name, "1.0.0", if changed { after } else { before }))
        .collect();
    serde_json::to_vec_pretty(&servers).unwrap()
}

/// The catalogue an API source serves, as `ServerResponse` rows with official metadata, before
/// or after the change (which also moves the changed row's `updatedAt` forward).
pub fn api_rows(changed: bool) -> Vec<Value> {
    SERVERS
        .iter()
        .zip(UPDATED_AT)
        .enumerate()
        .map(|(i, ((name, before, after), updated_at))| {
            let (description, updated_at) = if changed && i == 1 { (after, CHANGED_AT) } else { (before, updated_at) };
            json!({
                "server": server_json(name, "1.0.0", description),
                "_meta": {OFFICIAL: {
                    "status": "active",
                    "statusChangedAt": UPDATED_AT[0],
                    "publishedAt": UPDATED_AT[0],
                    "updatedAt": updated_at,
                    "isLatest": true
                }}
            })
        })
        .collect()
}

/// What a fetch given the previous revision holds once the data changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The whole catalogue, `complete: true`: a file is all there is (file, http-file, git).
    Whole,
    /// Only what changed since that revision, `complete: false`: an API source's incremental run
    /// after a full one (`updated_since`).
    ChangesOnly,
}

/// One source kind under test, serving [`catalogue`] (or [`api_rows`]) from the real thing.
/// Every source it returns is configured with its [`secrets`](SourceFixture::secrets).
pub trait SourceFixture {
    /// The kind, for messages: `file`, `http-file`, `git`, `api`.
    fn kind(&self) -> &'static str;
    /// A new source reading the catalogue, within its size limit.
    fn present(&self) -> Box<dyn Source>;
    /// A source whose configured location does not exist (a missing file, an HTTP 404, a path
    /// not in the repository, an API that is not there), and what its error must name.
    fn missing(&self) -> (Box<dyn Source>, String);
    /// A source reading the catalogue with a size limit below its size, and that limit.
    fn oversized(&self) -> (Box<dyn Source>, u64);
    /// Changes the catalogue to [`catalogue(true)`](catalogue) (or [`api_rows(true)`](api_rows)).
    fn change(&self);
    /// What a fetch from the previous revision holds after [`change`](SourceFixture::change).
    fn listing(&self) -> Listing;
    /// The configured secrets: passwords, tokens, query secrets, `Authorization` header values.
    fn secrets(&self) -> Vec<String>;
}

/// A fetch given the revision of the previous one answers `Unchanged` while nothing changed;
/// without a revision the data comes back.
pub async fn unchanged_when_since_is_current(fixture: &impl SourceFixture) {
    let kind = fixture.kind();
    let src = fixture.present();
    let (revision, _, _) = documents(kind, src.fetch(None).await);
    for round in 1..=2 {
        let again = src.fetch(Some(&revision)).await;
        assert!(
            matches!(again, Ok(Fetched::Unchanged)),
            "{kind}: fetch {round} since the current revision {revision:?}: {again:?}"
        );
    }
    let (fresh, docs, _) = documents(kind, src.fetch(None).await);
    assert_eq!(fresh, revision, "{kind}: without `since`, the same data has the same revision");
    assert_eq!(servers(kind, &docs).len(), SERVERS.len(), "{kind}: without `since`, the data comes back");
}

/// A configured location that does not exist is `NotFound`, and the message names it.
pub async fn missing_is_not_found(fixture: &impl SourceFixture) {
    let kind = fixture.kind();
    let (src, names) = fixture.missing();
    let err = fetch_err(kind, src.as_ref()).await;
    assert!(
        matches!(&err, SourceError::NotFound(m) if m.contains(&names)),
        "{kind}: expected NotFound naming {names:?}, got {err:?}"
    );
}

/// Data over the configured size limit is `TooLarge`, and the message names the limit.
pub async fn over_the_limit_is_too_large(fixture: &impl SourceFixture) {
    let kind = fixture.kind();
    let (src, limit) = fixture.oversized();
    let limit_text = limit.to_string();
    let err = fetch_err(kind, src.as_ref()).await;
    assert!(
        matches!(&err, SourceError::TooLarge(m) if m.contains(&limit_text)),
        "{kind}: expected TooLarge naming the limit {limit}, got {err:?}"
    );
}

/// A first fetch is the whole catalogue (`complete`). After a change, a fetch from the old
/// revision has a new revision and is either the whole catalogue again or only the changed
/// server (`complete: false`), as the fixture's [`Listing`] says.
pub async fn completeness_flag(fixture: &impl SourceFixture) {
    let kind = fixture.kind();
    let src = fixture.present();
    let (first, docs, complete) = documents(kind, src.fetch(None).await);
    assert!(complete, "{kind}: a first fetch holds the whole catalogue");
    let expected: Vec<(String, String)> = SERVERS.iter().map(|(n, d, _)| ((*n).to_owned(), (*d).to_owned())).collect();
    assert_eq!(servers(kind, &docs), expected, "{kind}: the first fetch");

    fixture.change();
    let (second, docs, complete) = documents(kind, src.fetch(Some(&first)).await);
    assert_ne!(second, first, "{kind}: changed data has a new revision");
    let changed: Vec<(String, String)> = SERVERS.iter().map(|(n, _, d)| ((*n).to_owned(), (*d).to_owned())).collect();
    match fixture.listing() {
        Listing::Whole => {
            assert!(complete, "{kind}: a fetch after a change still holds the whole catalogue");
            assert_eq!(servers(kind, &docs), changed, "{kind}: the fetch after the change");
        }
        Listing::ChangesOnly => {
            assert!(!complete, "{kind}: a fetch from the previous revision holds only the changes");
            assert_eq!(servers(kind, &docs), changed[1..], "{kind}: only the changed server");
        }
    }
}

/// No configured secret shows in `describe()` or the `Debug` of any of the fixture's sources,
/// nor in the `Display` or `Debug` of their errors.
pub async fn no_secret_shown(fixture: &impl SourceFixture) {
    let kind = fixture.kind();
    let secrets = fixture.secrets();
    assert!(!secrets.is_empty(), "{kind}: the fixture configures no secret, so this check proves nothing");
    let shows_none = |what: &str, text: &str| {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{kind}: {what} shows the secret {secret:?}: {text}");
        }
    };

    let present = fixture.present();
    shows_none("describe()", &present.describe());
    shows_none("the source's Debug", &format!("{present:?}"));
    documents(kind, present.fetch(None).await);
    let (missing, _) = fixture.missing();
    let (oversized, _) = fixture.oversized();
    for src in [missing, oversized] {
        shows_none("describe()", &src.describe());
        shows_none("the source's Debug", &format!("{src:?}"));
        let err = fetch_err(kind, src.as_ref()).await;
        shows_none("an error's Display", &err.to_string());
        shows_none("an error's Debug", &format!("{err:?}"));
    }
}

/// The documents of a fetch: its revision, documents and completeness; panics on anything else.
fn documents(kind: &str, fetched: Result<Fetched, SourceError>) -> (Revision, Vec<Bytes>, bool) {
    match fetched {
        Ok(Fetched::Documents { revision, documents, complete }) => (revision, in_memory(documents), complete),
        other => panic!("{kind}: expected documents, got {other:?}"),
    }
}

async fn fetch_err(kind: &str, src: &dyn Source) -> SourceError {
    match src.fetch(None).await {
        Err(e) => e,
        Ok(other) => panic!("{kind}: expected an error from {}, got {other:?}", src.describe()),
    }
}

/// `(name, description)` of every server in the documents, parsed as the sync parses them.
fn servers(kind: &str, documents: &[Bytes]) -> Vec<(String, String)> {
    documents
        .iter()
        .flat_map(|d| {
            parse_document(d, DataFormat::Auto)
                .unwrap_or_else(|e| panic!("{kind}: a document does not parse: {e}"))
                .servers
        })
        .map(|s| (s.server.name().to_string(), s.server.description()))
        .collect()
}

/// The documents' bytes (a file's read whole).
fn in_memory(documents: Vec<thv_ports::Document>) -> Vec<Bytes> {
    documents.into_iter().map(|d| d.into_bytes().unwrap_or_else(|e| panic!("a document cannot be read: {e}"))).collect()
}
