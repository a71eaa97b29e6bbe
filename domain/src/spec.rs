//! What the core runs on: the specification of each source (where it reads, how often, what it
//! keeps) and of each registry (its sources in precedence order, filter, access, deployed
//! servers). The configuration parses YAML into these; the catalogue, the adapters' wiring and the
//! HTTP layer all speak them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::access::AccessPolicy;
use crate::format::DataFormat;
use crate::{Filter, FilterSpec, RegistryName, SourceName};

/// Where a source reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// A local file of at most `max_bytes` (a limit, not part of what is read: left out of the
    /// digest).
    File {
        path: PathBuf,
        #[serde(skip_serializing)]
        max_bytes: u64,
    },
    /// A file over http(s) of at most `max_bytes` (left out of the digest too).
    Url {
        url: String,
        timeout: Duration,
        #[serde(skip_serializing)]
        max_bytes: u64,
    },
    /// A file in a git repository; one sync receives at most `max_bytes` of packs.
    Git { repository: String, pin: GitPin, path: String, auth: Option<GitAuth>, max_bytes: u64 },
    /// Another MCP-Registry-compatible API.
    Api(ApiConfig),
    /// Entries published through the write API and kept by the store; never fetched.
    Managed(ManagedConfig),
}

/// A managed source's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedConfig {
    /// Accept writes without a token in `anonymous` mode (local development only).
    pub allow_anonymous_writes: bool,
}

/// Which commit of a git repository a source reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GitPin {
    /// The tip of a branch, followed as it moves (`main`, or `refs/heads/main`).
    Branch(String),
    /// The commit a tag points to (`v1.2.0`, or `refs/tags/v1.2.0`).
    Tag(String),
    /// A fixed commit: a full or abbreviated (at least 4 digits) hex SHA-1.
    Commit(String),
}

impl std::fmt::Display for GitPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Branch(name) => write!(f, "branch {name}"),
            Self::Tag(name) => write!(f, "tag {name}"),
            Self::Commit(id) => write!(f, "commit {id}"),
        }
    }
}

/// Basic credentials of a git source (http(s) repositories): from `auth` in the configuration,
/// whose password was read from `passwordFile`, or from a repository URL's userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct GitAuth {
    pub username: String,
    pub password: String,
    /// Where the password was read from, when it came from a file.
    pub password_file: Option<PathBuf>,
}

impl GitAuth {
    /// Credentials given as they are (no password file).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into(), password_file: None }
    }
}

/// Serialised (for the config digest) with the password file's name, never the password.
impl Serialize for GitAuth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("GitAuth", 2)?;
        st.serialize_field("username", &self.username)?;
        st.serialize_field("passwordFile", &self.password_file)?;
        st.end()
    }
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password file is named (so changing it changes the config digest), never the password.
        f.debug_struct("GitAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// Default per-request timeout of HTTP sources (http-file and api).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on the bytes one fetch reads.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default bound on the pages one API fetch reads.
pub const DEFAULT_MAX_PAGES: u32 = 1000;
/// Default `limit` of each page an API source requests: the official maximum.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Default time between full reads of an API source.
pub const DEFAULT_FULL_SYNC_INTERVAL: Duration = Duration::from_secs(3600);

/// The `User-Agent` this server sends: `thv-registry-api/<version>`.
pub fn user_agent() -> String {
    format!("thv-registry-api/{}", env!("CARGO_PKG_VERSION"))
}

/// An API source: another MCP-Registry-compatible API, paged through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfig {
    /// Base URL: `https://registry.example.com` or `http://host/registry/name`, without `/v0.1`.
    pub endpoint: String,
    /// Per HTTP request (connect, headers and body).
    pub timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Most pages one fetch may read; more means the cursor chain does not end.
    pub max_pages: u32,
    /// Most bytes all pages of one fetch may hold together.
    pub max_bytes: u64,
    /// How often a full run replaces incremental runs.
    pub full_sync_interval: Duration,
    /// `limit` of each page request. Not in the config digest: it changes how the pages are cut,
    /// not what is read.
    #[serde(skip)]
    pub page_size: u32,
    /// A file holding the token sent as `Authorization: Bearer <token>`; re-read when it changes,
    /// so a rotated token needs no restart. In the config digest as the path, never the token.
    pub bearer_token_file: Option<PathBuf>,
}

impl ApiConfig {
    /// An API source on `endpoint` with every default.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            timeout: DEFAULT_HTTP_TIMEOUT,
            user_agent: user_agent(),
            max_pages: DEFAULT_MAX_PAGES,
            max_bytes: DEFAULT_MAX_BYTES,
            full_sync_interval: DEFAULT_FULL_SYNC_INTERVAL,
            page_size: DEFAULT_PAGE_SIZE,
            bearer_token_file: None,
        }
    }
}

/// Why the text of a bearer token file holds no usable token. The message never quotes the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerTokenProblem {
    #[error("is empty (or only whitespace); write the token into it")]
    Empty,
    /// A line break or another control character inside the token: not a valid header value.
    #[error("holds more than one line or a control character; the file must hold only the token")]
    ControlCharacter,
}

/// The token in the text of a bearer token file: without surrounding whitespace (a trailing
/// newline is usual), non-empty, and valid in an `Authorization` header.
///
/// # Errors
/// [`BearerTokenProblem`] when the text holds no such token.
pub fn bearer_token(text: &str) -> Result<&str, BearerTokenProblem> {
    let token = text.trim();
    if token.is_empty() {
        return Err(BearerTokenProblem::Empty);
    }
    if token.chars().any(char::is_control) {
        return Err(BearerTokenProblem::ControlCharacter);
    }
    Ok(token)
}

impl SourceKind {
    /// The settings of a managed source; `None` for a synced one.
    pub fn managed(&self) -> Option<&ManagedConfig> {
        match self {
            Self::Managed(m) => Some(m),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::File { .. } | Self::Url { .. } => "file",
            Self::Git { .. } => "git",
            Self::Api(_) => "api",
            Self::Managed(_) => "managed",
        }
    }

    /// Where the data comes from, for humans: URLs without userinfo and with query values
    /// redacted ([`crate::redact::location`]).
    pub fn location(&self) -> String {
        match self {
            Self::File { path, .. } => path.display().to_string(),
            Self::Url { url, .. } => crate::redact::location(url),
            Self::Git { repository, pin, path, .. } => {
                format!("{} ({pin}) {path}", crate::redact::location(repository))
            }
            Self::Api(api) => crate::redact::location(&api.endpoint),
            Self::Managed(_) => "published through the write API".to_owned(),
        }
    }
}

/// One configured source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: SourceName,
    pub kind: SourceKind,
    pub format: DataFormat,
    pub interval: Duration,
    pub tombstone_retention: Duration,
    /// Longest time one fetch may take.
    pub timeout: Duration,
    /// Largest share of invalid entries a document may have and still replace the data.
    pub max_invalid_ratio: f64,
    pub filter_spec: FilterSpec,
    pub filter: Filter,
}

impl SourceConfig {
    /// A digest of everything that changes how this source's data is read and filtered: when it
    /// changes, the next sync re-reads the data even if its revision did not change.
    /// It is the SHA-256 of a canonical JSON serialisation of the location, format and filter.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        // Serialising these plain types cannot fail; an empty text would still be a digest.
        let text = serde_json::to_vec(&(&self.kind, self.format, &self.filter_spec)).unwrap_or_default();
        hex::encode(Sha256::digest(&text))
    }
}

/// One configured registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub name: RegistryName,
    /// Source names, in precedence order.
    pub sources: Vec<SourceName>,
    pub filter_spec: FilterSpec,
    pub filter: Filter,
    /// Who may read it.
    pub access: AccessPolicy,
    /// Which deployed servers it lists; `None`: every one the `kubernetes` section sees in
    /// `anonymous` mode, none in `oauth` mode.
    pub deployed: Option<DeployedScope>,
}

/// A registry's `deployed` section: the deployed servers it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedScope {
    /// Namespaces whose servers are listed.
    pub namespaces: Vec<String>,
    /// Whether callers without a token may list them (`oauth` mode).
    pub public: bool,
}

/// A duration as written in a configuration: `300ms`, `45s`, `5m0s`, `1h30m0s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// The sources and registries a catalogue hosts, and which registry is the default.
#[derive(Debug, Clone, Copy)]
pub struct CatalogSpec<'a> {
    pub sources: &'a [SourceConfig],
    pub registries: &'a [RegistryConfig],
    pub default_registry: Option<&'a RegistryName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_trimmed_and_must_be_one_line() {
        assert_eq!(bearer_token("  t0ken.abc-_~+/=\n"), Ok("t0ken.abc-_~+/="));
        assert_eq!(bearer_token(" \n\t"), Err(BearerTokenProblem::Empty));
        assert_eq!(bearer_token("first\nsecond\n"), Err(BearerTokenProblem::ControlCharacter));
        assert!(!BearerTokenProblem::ControlCharacter.to_string().contains("first"));
    }
}
