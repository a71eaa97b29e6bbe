#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]
//! The git source against real repositories made with the `git` CLI: over `file://`, local paths,
//! and a real git HTTP server (`git http-backend` behind a small poem CGI endpoint:
//! `thv_testkit::git`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use poem::{Request, Response};
use tempfile::TempDir;
use thv_adapters::source::git::{GitAuth, GitPin, GitSource};
use thv_domain::Revision;
use thv_ports::{Fetched, Source, SourceError};
use thv_testkit::git::{Repo, git, serve_http};

mod hardening;

const V1: &[u8] = br#"[{"name":"io.github.example/one","version":"1.0.0"}]"#;
const V2: &[u8] = br#"[{"name":"io.github.example/one","version":"2.0.0"}]"#;
const V3: &[u8] = br#"[{"name":"io.github.example/one","version":"3.0.0"}]"#;

/// A repository (`thv_testkit::git::Repo`, served as `/repo.git`) whose `main` has
/// `registry.json` = [`V1`] committed.
fn new_origin() -> Repo {
    let origin = Repo::init();
    origin.commit("registry.json", V1);
    origin
}

fn source(repository: impl Into<String>, reference: GitPin, path: &str) -> (GitSource, TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let src = GitSource::new(repository.into(), reference, path.to_owned(), None, cache.path().join("clone"));
    (src, cache)
}

fn branch(name: &str) -> GitPin {
    GitPin::Branch(name.to_owned())
}

/// Fetches and expects documents; returns the revision and the single document.
async fn documents(src: &GitSource, since: Option<&Revision>) -> (Revision, Bytes) {
    match src.fetch(since).await {
        Ok(Fetched::Documents { revision, mut documents, complete }) => {
            assert!(complete, "a git file is the whole catalogue");
            assert_eq!(documents.len(), 1, "one document");
            (revision, documents.pop().unwrap().into_bytes().unwrap())
        }
        other => panic!("expected documents from {}, got {other:?}", src.describe()),
    }
}

async fn fetch_err(src: &GitSource) -> SourceError {
    match src.fetch(None).await {
        Err(e) => e,
        Ok(other) => panic!("expected an error from {}, got {other:?}", src.describe()),
    }
}

fn rev(id: &str) -> Revision {
    Revision(id.to_owned())
}

#[tokio::test]
async fn a_branch_is_tracked_incrementally_in_one_reused_clone() {
    let origin = new_origin();
    let first = origin.head();
    let cache = tempfile::tempdir().unwrap();
    let clone = cache.path().join("clone");
    let src = GitSource::new(origin.url(), branch("main"), "registry.json".into(), None, clone.clone());

    let (revision, doc) = documents(&src, None).await;
    assert_eq!(revision, rev(&first), "the revision is the full commit id");
    assert_eq!(doc, Bytes::from_static(V1));
    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));

    // A re-clone would empty the cache directory, marker and all.
    let marker = clone.join("marker");
    std::fs::write(&marker, b"still here").unwrap();
    let second = origin.commit("registry.json", V2);
    let (revision, doc) = documents(&src, Some(&revision)).await;
    assert_eq!((revision.clone(), doc), (rev(&second), Bytes::from_static(V2)));
    assert!(marker.exists(), "the clone was reused, not made again");
    // The clone is bare and still holds the first commit: the second came by an incremental fetch.
    assert_eq!(git(&clone, &["rev-parse", "--is-bare-repository"]), "true");
    git(&clone, &["cat-file", "-e", &format!("{first}^{{commit}}")]);
    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));

    // Without `since`, the current data comes back even when nothing moved.
    assert_eq!(documents(&src, None).await.1, Bytes::from_static(V2));
}

#[tokio::test]
async fn local_paths_absolute_and_relative_work_like_file_urls() {
    let origin = new_origin();
    let head = origin.head();
    let (src, _cache) = source(origin.path.to_str().unwrap(), branch("main"), "registry.json");
    assert_eq!(documents(&src, None).await, (rev(&head), Bytes::from_static(V1)));

    // The same path relative to the working directory of the test.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = format!("{up}{}", origin.path.strip_prefix("/").unwrap().display());
    let (src, _cache) = source(relative.clone(), branch("main"), "registry.json");
    assert_eq!(documents(&src, None).await, (rev(&head), Bytes::from_static(V1)), "{relative}");
}

#[tokio::test]
async fn tags_and_commits_stay_put_while_the_branch_moves() {
    let origin = new_origin();
    let first = origin.head();
    origin.git(&["tag", "-a", "v1", "-m", "release 1"]);
    origin.git(&["tag", "light"]);
    let second = origin.commit("registry.json", V2);

    let (annotated, _c1) = source(origin.url(), GitPin::Tag("v1".into()), "registry.json");
    let (light, _c2) = source(origin.url(), GitPin::Tag("refs/tags/light".into()), "registry.json");
    let (full, _c3) = source(origin.url(), GitPin::Commit(first.clone()), "registry.json");
    let (short, _c4) = source(origin.url(), GitPin::Commit(first[..7].to_uppercase()), "registry.json");
    let (tip, _c5) = source(origin.url(), GitPin::Commit(second.clone()), "registry.json");
    for src in [&annotated, &light, &full, &short] {
        assert_eq!(documents(src, None).await, (rev(&first), Bytes::from_static(V1)), "{}", src.describe());
    }
    assert_eq!(documents(&tip, None).await, (rev(&second), Bytes::from_static(V2)));

    origin.commit("registry.json", V3);
    for src in [&annotated, &light, &full, &short] {
        assert!(matches!(src.fetch(Some(&rev(&first))).await.unwrap(), Fetched::Unchanged), "{}", src.describe());
    }

    // A moved tag is picked up.
    origin.git(&["tag", "-f", "-a", "v1", "-m", "release 1 again"]);
    let (revision, doc) = documents(&annotated, Some(&rev(&first))).await;
    assert_eq!((revision, doc), (rev(&origin.head()), Bytes::from_static(V3)));

    // A commit already in the clone is read without the network: the origin is gone.
    std::fs::remove_dir_all(&origin.path).unwrap();
    assert_eq!(documents(&full, None).await.1, Bytes::from_static(V1));
    assert!(matches!(short.fetch(Some(&rev(&first))).await.unwrap(), Fetched::Unchanged));
    assert_eq!(documents(&tip, None).await.1, Bytes::from_static(V2));
}

#[tokio::test]
async fn a_file_in_a_subdirectory_is_read() {
    let origin = new_origin();
    let head = origin.commit("data/servers.json", V2);
    let (src, _cache) = source(origin.url(), branch("main"), "data/servers.json");
    assert_eq!(documents(&src, None).await, (rev(&head), Bytes::from_static(V2)));
    let (src, _cache) = source(origin.url(), branch("main"), "./data//servers.json");
    assert_eq!(documents(&src, None).await.1, Bytes::from_static(V2), "`.` and empty segments are ignored");
}

#[tokio::test]
async fn missing_files_refs_and_commits_are_clear_not_found_errors() {
    let origin = new_origin();
    let head = origin.commit("data/servers.json", V2);
    let short = &head[..7];
    let url = origin.url();
    let not_found = |err: SourceError, needles: &[&str]| match &err {
        SourceError::NotFound(m) if needles.iter().all(|n| m.contains(n)) => {}
        _ => panic!("expected NotFound containing {needles:?}, got {err:?}"),
    };

    let (src, _c) = source(&*url, branch("main"), "nope.json");
    not_found(fetch_err(&src).await, &["file `nope.json` not found", short, &url]);
    let (src, _c) = source(&*url, branch("main"), "data");
    not_found(fetch_err(&src).await, &["`data` is a directory", short]);
    let (src, _c) = source(&*url, branch("main"), "../registry.json");
    not_found(fetch_err(&src).await, &["../registry.json"]);
    let (src, _c) = source(&*url, branch("nope"), "registry.json");
    not_found(fetch_err(&src).await, &["branch `nope` does not exist", &url]);
    let (src, _c) = source(&*url, GitPin::Tag("v9".into()), "registry.json");
    not_found(fetch_err(&src).await, &["tag `v9` does not exist", &url]);
    let (src, _c) = source(&*url, branch("bad..name"), "registry.json");
    not_found(fetch_err(&src).await, &["`bad..name` is not a valid branch name"]);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let (src, _c) = source(&*url, GitPin::Commit(unknown.into()), "registry.json");
    not_found(fetch_err(&src).await, &[&format!("commit {unknown} is not in {url}")]);
    let (src, _c) = source(&*url, GitPin::Commit("0123abc".into()), "registry.json");
    not_found(fetch_err(&src).await, &["commit 0123abc is not in"]);
    let (src, _c) = source(&*url, GitPin::Commit("main".into()), "registry.json");
    not_found(fetch_err(&src).await, &["`main` is not a commit id"]);

    // A failed lookup leaves a clone that later fetches can use.
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_owned();
    let src = GitSource::new(url.clone(), branch("main"), "nope.json".into(), None, dir.clone());
    not_found(fetch_err(&src).await, &["nope.json"]);
    let src = GitSource::new(url, branch("main"), "registry.json".into(), None, dir);
    assert_eq!(documents(&src, None).await.0, rev(&head));
}

#[tokio::test]
async fn unreachable_repositories_name_the_url() {
    let (src, _c) = source("file:///nonexistent/repo", branch("main"), "registry.json");
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::NotFound(m) | SourceError::Unavailable(m) if m.contains("file:///nonexistent/repo")),
        "{err:?}"
    );
    let (src, _c) = source("/nonexistent/repo", branch("main"), "registry.json");
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::NotFound(m) | SourceError::Unavailable(m) if m.contains("/nonexistent/repo")),
        "{err:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/x.git");
    for reference in [branch("main"), GitPin::Tag("v1".into()), GitPin::Commit("ab".repeat(20))] {
        let (src, _c) = source(&*url, reference, "registry.json");
        let err = fetch_err(&src).await;
        assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&url)), "{err:?}");
    }
}

#[tokio::test]
async fn oversized_files_are_too_large() {
    let origin = new_origin();
    let (src, _c) = source(origin.url(), branch("main"), "registry.json");
    let err = src.with_max_bytes(10).fetch(None).await.unwrap_err();
    assert!(matches!(&err, SourceError::TooLarge(m) if m.contains("registry.json")), "{err:?}");
}

#[tokio::test]
async fn an_unusable_or_foreign_cache_is_replaced() {
    let origin = new_origin();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("HEAD"), b"garbage").unwrap();
    std::fs::create_dir(cache.path().join("objects")).unwrap();
    let src = GitSource::new(origin.url(), branch("main"), "registry.json".into(), None, cache.path().to_owned());
    assert_eq!(documents(&src, None).await.1, Bytes::from_static(V1));

    // The same cache configured for another repository holding another commit under the same branch.
    let other = new_origin();
    let other_head = other.commit("registry.json", V3);
    let src = GitSource::new(other.url(), branch("main"), "registry.json".into(), None, cache.path().to_owned());
    assert_eq!(documents(&src, None).await, (rev(&other_head), Bytes::from_static(V3)));
    // A commit only the first repository has is no longer "in" the clone.
    let first = origin.commit("registry.json", V2);
    let src = GitSource::new(
        other.url(),
        GitPin::Commit(first.clone()),
        "registry.json".into(),
        None,
        cache.path().to_owned(),
    );
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::NotFound(m) if m.contains(&first)), "{err:?}");
}

#[tokio::test]
async fn concurrent_fetches_of_one_source_share_the_clone() {
    let origin = new_origin();
    let (src, _c) = source(origin.url(), branch("main"), "registry.json");
    let (a, b) = tokio::join!(src.fetch(None), src.fetch(None));
    let read = |fetched: Fetched| match fetched {
        Fetched::Documents { revision, documents, complete } => (revision, crate::in_memory(documents), complete),
        Fetched::Unchanged => panic!("expected documents"),
    };
    assert_eq!(read(a.unwrap()), read(b.unwrap()));
}

#[test]
fn descriptions_and_debug_output_hold_no_password() {
    let auth = GitAuth::new("bot", "hunter2-secret");
    assert!(!format!("{auth:?}").contains("hunter2"), "{auth:?}");
    assert!(format!("{auth:?}").contains("bot"));
    let src = GitSource::new(
        "https://bot:url-secret@example.com/org/repo.git".into(),
        branch("main"),
        "registry.json".into(),
        Some(auth),
        PathBuf::from("/tmp/unused"),
    );
    assert_eq!(src.describe(), "git https://example.com/org/repo.git (branch main) path registry.json");
    let debug = format!("{src:?}");
    assert!(!debug.contains("hunter2") && !debug.contains("url-secret"), "{debug}");
}

// ---- Over HTTP: `git http-backend` as a CGI program behind poem ----

const USER: &str = "registry-bot";
const PASSWORD: &str = "s3cret-Pa55word";

/// Serves the repositories under `root` at `http://127.0.0.1:PORT/<name>`, and again at
/// `/private/<name>` behind basic auth ([`USER`], [`PASSWORD`]). Returns the base URL.
async fn serve_git(root: PathBuf) -> String {
    serve_http(root, USER, PASSWORD).await.unwrap()
}

#[tokio::test]
async fn a_branch_is_cloned_and_tracked_over_http() {
    let origin = new_origin();
    let base = serve_git(origin.path.parent().unwrap().to_owned()).await;
    let url = format!("{base}/repo.git");
    let (src, _c) = source(&*url, branch("main"), "registry.json");
    let (revision, doc) = documents(&src, None).await;
    assert_eq!((revision.clone(), doc), (rev(&origin.head()), Bytes::from_static(V1)));
    assert!(matches!(src.fetch(Some(&revision)).await.unwrap(), Fetched::Unchanged));

    let second = origin.commit("registry.json", V2);
    assert_eq!(documents(&src, Some(&revision)).await, (rev(&second), Bytes::from_static(V2)));

    origin.git(&["tag", "v2"]);
    let (tag, _c) = source(&*url, GitPin::Tag("v2".into()), "registry.json");
    assert_eq!(documents(&tag, None).await.0, rev(&second));
    let (pin, _c) = source(&*url, GitPin::Commit(second[..10].to_owned()), "registry.json");
    assert_eq!(documents(&pin, None).await.0, rev(&second));
    let (src, _c) = source(&*url, branch("nope"), "registry.json");
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::NotFound(m) if m.contains("branch `nope`") && m.contains(&url)), "{err:?}");
    let (src, _c) = source(format!("{base}/missing.git"), branch("main"), "registry.json");
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains("/missing.git")), "{err:?}");
}

#[tokio::test]
async fn basic_auth_is_sent_and_never_shown() {
    let origin = new_origin();
    let base = serve_git(origin.path.parent().unwrap().to_owned()).await;
    let url = format!("{base}/private/repo.git");
    let cache = tempfile::tempdir().unwrap();
    let with_auth = |password: &str| {
        let auth = GitAuth::new(USER, password);
        GitSource::new(url.clone(), branch("main"), "registry.json".into(), Some(auth), cache.path().join("a"))
    };

    let src = with_auth(PASSWORD);
    assert!(!src.describe().contains(PASSWORD));
    let (revision, doc) = documents(&src, None).await;
    assert_eq!((revision.clone(), doc), (rev(&origin.head()), Bytes::from_static(V1)));
    let second = origin.commit("registry.json", V2);
    assert_eq!(documents(&src, Some(&revision)).await, (rev(&second), Bytes::from_static(V2)));

    let (anonymous, _c) = source(&*url, branch("main"), "registry.json");
    let err = fetch_err(&anonymous).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains(&url) && m.contains("username and password")),
        "{err:?}"
    );

    let wrong = with_auth("wrong-Pa55word");
    let err = fetch_err(&wrong).await;
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&url)), "{err:?}");
    assert!(!err.to_string().contains("wrong-Pa55word"), "{err}");

    // Credentials in the URL are used, and never shown either.
    let in_url = format!("http://{USER}:{PASSWORD}@{}", &url["http://".len()..]);
    let (src, _c) = source(&*in_url, branch("main"), "registry.json");
    assert_eq!(src.describe(), format!("git {url} (branch main) path registry.json"));
    assert!(!format!("{src:?}").contains(PASSWORD));
    assert_eq!(documents(&src, None).await.0, rev(&second));
    let bogus = format!("http://{USER}:bogus-Pa55@{}", &url["http://".len()..]);
    let (src, _c) = source(&*bogus, branch("main"), "registry.json");
    assert!(!format!("{src:?}").contains("Pa55") && !src.describe().contains("Pa55"));
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&url) && !m.contains("Pa55")), "{err:?}");
}
