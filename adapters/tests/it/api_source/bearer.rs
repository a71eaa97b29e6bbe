//! `ApiSource` with a bearer token file, against an upstream (`thv_testkit::upstream`) that
//! demands `Authorization: Bearer <token>` and answers 401 otherwise: the token goes on every
//! page, a rotated file is read by the next fetch, a refusal names its status, and the token
//! shows nowhere (the upstream's 401 quotes the header it received, the message must not).

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, SystemTime};

use tempfile::TempDir;
use thv_testkit::upstream::{self, Mode, Upstream};

use super::*;

const TOKEN: &str = "tok-1-0123456789abcdef";

async fn upstream_wanting(token: &str) -> Upstream {
    let rows = (0..3)
        .map(|i| upstream::row(&format!("io.example/s{i}"), "1.0.0", &at(u32::try_from(i).unwrap()), "active"))
        .collect();
    let upstream = Upstream::start(rows).await.unwrap();
    upstream.require_bearer(Some(token));
    upstream
}

/// A token file holding `token` and a trailing newline, as `echo` writes it.
fn token_file(token: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    (dir, path)
}

/// A source of `upstream` reading one row per page, with the token from `file` if given.
fn bearer_source(upstream: &Upstream, file: Option<&Path>) -> ApiSource {
    let mut options = ApiConfig::new(upstream.base_url());
    options.timeout = Duration::from_secs(20);
    options.page_size = 1;
    options.bearer_token_file = file.map(Path::to_path_buf);
    source(options, &clock())
}

fn set_mtime(path: &Path, at: SystemTime) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_modified(at).unwrap();
}

fn last_authorization(upstream: &Upstream) -> Option<String> {
    upstream.authorizations().last().cloned().flatten()
}

/// Neither the token nor its header value in the error's text and Debug, nor the source's Debug.
fn assert_hidden(tokens: &[&str], err: &SourceError, src: &ApiSource) {
    for text in [err.to_string(), format!("{err:?}"), format!("{src:?}"), src.describe()] {
        for token in tokens {
            assert!(!text.contains(token), "{token:?} shows in: {text}");
        }
    }
}

#[tokio::test]
async fn the_token_from_the_file_goes_on_every_page() {
    let upstream = upstream_wanting(TOKEN).await;
    let (_dir, file) = token_file(TOKEN);
    let src = bearer_source(&upstream, Some(&file));

    let (_, docs, complete) = documents(src.fetch(None).await.unwrap());
    assert!(complete);
    assert_eq!(names(&docs), ["io.example/s0", "io.example/s1", "io.example/s2"]);
    let sent = upstream.authorizations();
    assert_eq!(sent.len(), 3, "one request per page");
    assert!(sent.iter().all(|a| a.as_deref() == Some(&format!("Bearer {TOKEN}"))), "{sent:?}");

    let debug = format!("{src:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains(&file.display().to_string()), "the Debug names the file: {debug}");
}

#[tokio::test]
async fn without_the_token_or_with_a_wrong_one_the_upstream_refuses_and_the_message_says_so() {
    let upstream = upstream_wanting(TOKEN).await;

    let src = bearer_source(&upstream, None);
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m)
            if m.contains("401") && m.contains("needs a token") && m.contains("auth.bearerTokenFile")),
        "{err}"
    );
    assert_eq!(upstream.authorizations(), [None], "no Authorization header without a token file");

    let wrong = "wrong-token-fedcba9876543210";
    let (_dir, file) = token_file(wrong);
    let src = bearer_source(&upstream, Some(&file));
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m)
            if m.contains("HTTP 401") && m.contains("refused the bearer token")
                && m.contains(&file.display().to_string()) && m.contains("invalid credentials")),
        "{err}"
    );
    assert_hidden(&[wrong, TOKEN], &err, &src);

    // A 403 with the right token is a refusal too.
    std::fs::write(&file, TOKEN).unwrap();
    upstream.set_mode(Mode::Status(403));
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains("403") && m.contains("refused the bearer token")),
        "{err}"
    );
    assert_hidden(&[TOKEN], &err, &src);
}

#[tokio::test]
async fn a_rotated_token_is_read_by_the_next_fetch_and_an_unchanged_file_is_not_read_again() {
    let upstream = upstream_wanting(TOKEN).await;
    let (_dir, file) = token_file(TOKEN);
    let src = bearer_source(&upstream, Some(&file));
    documents(src.fetch(None).await.unwrap());

    // A new token of another length: the length tells the file changed.
    let second = "tok-2-0123456789abcdef-longer";
    std::fs::write(&file, format!("{second}\n")).unwrap();
    upstream.require_bearer(Some(second));
    documents(src.fetch(None).await.unwrap());
    assert_eq!(last_authorization(&upstream), Some(format!("Bearer {second}")));

    // One of the same length: the modification time tells (set, so the test does not depend on
    // the file system's timestamp resolution).
    let third = "tok-3-0123456789abcdef-longer";
    let at = SystemTime::UNIX_EPOCH + StdDuration::from_secs(1_700_000_000);
    std::fs::write(&file, format!("{third}\n")).unwrap();
    set_mtime(&file, at);
    upstream.require_bearer(Some(third));
    documents(src.fetch(None).await.unwrap());
    assert_eq!(last_authorization(&upstream), Some(format!("Bearer {third}")));

    // Same length and modification time: the last token read is kept, the file is not re-read.
    let fourth = "tok-4-0123456789abcdef-longer";
    std::fs::write(&file, format!("{fourth}\n")).unwrap();
    set_mtime(&file, at);
    documents(src.fetch(None).await.unwrap());
    assert_eq!(last_authorization(&upstream), Some(format!("Bearer {third}")), "the file looked unchanged");

    // Once the time moves, the new token goes out.
    set_mtime(&file, at + StdDuration::from_secs(1));
    upstream.require_bearer(Some(fourth));
    documents(src.fetch(None).await.unwrap());
    assert_eq!(last_authorization(&upstream), Some(format!("Bearer {fourth}")));
}

#[tokio::test]
async fn a_token_file_that_cannot_be_read_or_holds_no_token_fails_the_fetch_naming_the_file() {
    let upstream = upstream_wanting(TOKEN).await;
    let (_dir, file) = token_file(TOKEN);
    let src = bearer_source(&upstream, Some(&file));
    documents(src.fetch(None).await.unwrap());
    let requests = upstream.requests().len();
    let shown = file.display().to_string();

    // Emptied: refused before any request (the last token is not sent on).
    std::fs::write(&file, " \n").unwrap();
    let err = fetch_err(&src).await;
    assert!(matches!(&err, SourceError::Unavailable(m) if m.contains(&shown) && m.contains("is empty")), "{err}");

    // Two lines: not a header value.
    std::fs::write(&file, format!("{TOKEN}\nsecond line\n")).unwrap();
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains(&shown) && m.contains("more than one line")),
        "{err}"
    );
    assert_hidden(&[TOKEN, "second line"], &err, &src);

    // Removed: a fetch fails, naming the file.
    std::fs::remove_file(&file).unwrap();
    let err = fetch_err(&src).await;
    assert!(
        matches!(&err, SourceError::Unavailable(m) if m.contains(&format!("cannot read the bearer token file {shown}"))),
        "{err}"
    );
    assert_hidden(&[TOKEN], &err, &src);
    assert_eq!(upstream.requests().len(), requests, "no request without a token to send");

    // Restored: the next fetch works again.
    std::fs::write(&file, TOKEN).unwrap();
    documents(src.fetch(None).await.unwrap());
}
