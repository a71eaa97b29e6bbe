//! Credentials of a git source: where they come from (`auth`, or the URL's userinfo), how they
//! are sent (a basic `Authorization` header), and how they are kept out of every message.

use std::borrow::Cow;

pub use thv_domain::spec::GitAuth;

/// Usernames at least this long are treated as secrets too (a token is often sent as the
/// username); shorter ones are names like `git`, whose removal would garble messages.
const SECRET_USERNAME_LEN: usize = 8;

/// The strings no message may show, and the way to take them out.
#[derive(Clone, Default)]
pub(super) struct Secrets(Vec<String>);

impl Secrets {
    /// The password, a long username, and their encoding in the `Authorization` header.
    pub(super) fn of(auth: Option<&GitAuth>) -> Self {
        let mut secrets: Vec<String> = auth
            .iter()
            .flat_map(|a| {
                let username = (a.username.chars().count() >= SECRET_USERNAME_LEN).then(|| a.username.clone());
                [Some(a.password.clone()), username, Some(encode(a))]
            })
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        // The longest first, so a secret containing another one is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self(secrets)
    }

    /// Replaces every secret in `text` with `***`.
    pub(super) fn scrub(&self, text: String) -> String {
        self.0.iter().fold(text, |t, secret| if t.contains(secret) { t.replace(secret, "***") } else { t })
    }
}

/// `Basic <base64(username:password)>`, the value of an `Authorization` header.
pub(super) fn basic_auth(auth: &GitAuth) -> String {
    format!("Basic {}", encode(auth))
}

fn encode(auth: &GitAuth) -> String {
    base64(format!("{}:{}", auth.username, auth.password).as_bytes())
}

/// `repository` without userinfo, and the credentials it held, if any.
pub(super) fn strip_userinfo(repository: String) -> (String, Option<GitAuth>) {
    match url::Url::parse(&repository) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let auth = GitAuth::new(
                percent_decode(url.username()).into_owned(),
                percent_decode(url.password().unwrap_or_default()).into_owned(),
            );
            // Cannot fail for URLs that had userinfo (they have a host).
            url.set_username("").ok();
            url.set_password(None).ok();
            (url.to_string(), Some(auth))
        }
        _ => (repository, None),
    }
}

/// Standard base64 with padding, for the basic auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes `%XX` escapes (a password in a URL is percent-encoded).
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_encoded_like_rfc_4648() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg==")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn userinfo_is_taken_out_of_urls_and_decoded() {
        let (shown, auth) = strip_userinfo("https://bot:p%40ss%3Aword@example.com/r.git".into());
        assert_eq!(shown, "https://example.com/r.git");
        let auth = auth.unwrap();
        assert_eq!((auth.username.as_str(), auth.password.as_str()), ("bot", "p@ss:word"));
        for plain in ["https://example.com/r.git", "file:///srv/r", "/srv/r", ".", "git@example.com:r.git"] {
            let (shown, auth) = strip_userinfo(plain.into());
            assert_eq!(shown, plain);
            assert!(auth.is_none(), "{plain}");
        }
        assert_eq!(percent_decode("100%"), "100%");
    }
    #[test]
    fn passwords_long_usernames_and_headers_are_scrubbed() {
        let auth = GitAuth::new("registry-bot", "pw");
        let header = basic_auth(&auth);
        let text = format!("user registry-bot pw {header} ok");
        assert_eq!(Secrets::of(Some(&auth)).scrub(text), "user *** *** Basic *** ok");
        let short = GitAuth::new("git", "hunter2");
        assert_eq!(Secrets::of(Some(&short)).scrub("git says hunter2".into()), "git says ***");
        assert_eq!(Secrets::default().scrub("as is".into()), "as is");
    }
}
