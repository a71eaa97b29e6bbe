//! One version of one server in one source, with the official registry metadata.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::names::SourceName;
use crate::server_json::ServerJson;

/// `_meta` key of the registry-managed metadata in API responses.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// Lifecycle status of a server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Deprecated,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Deleted => "deleted",
        }
    }
}

/// The official `_meta` block (`io.modelcontextprotocol.registry/official`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfficialMeta {
    pub status: Status,
    #[serde(with = "rfc3339")]
    pub status_changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(with = "rfc3339")]
    pub published_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub is_latest: bool,
}

impl OfficialMeta {
    /// Metadata of a version first seen at `now`.
    pub fn new_active(now: DateTime<Utc>) -> Self {
        Self {
            status: Status::Active,
            status_changed_at: now,
            status_message: None,
            published_at: now,
            updated_at: now,
            is_latest: false,
        }
    }
}

/// RFC 3339 in UTC with the precision the timestamp has (nanoseconds when present), `Z` suffix.
pub mod rfc3339 {
    use super::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(ts: &DateTime<Utc>) -> String {
        ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// One version of one server from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    pub server: Arc<ServerJson>,
    pub official: OfficialMeta,
    pub source: SourceName,
}

impl Entry {
    pub fn is_deleted(&self) -> bool {
        self.official.status == Status::Deleted
    }

    /// The `ServerResponse` JSON of the official API for this entry:
    /// `{"server": …, "_meta": {"io.modelcontextprotocol.registry/official": …}}`.
    pub fn render(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.official).unwrap_or_default();
        let server = self.server.json();
        let mut out = Vec::with_capacity(response_len(server, &meta));
        write_response(&mut out, server, &meta);
        out
    }
}

/// Appends a `ServerResponse` from a server.json text and its official `_meta` object's JSON.
pub fn write_response(out: &mut Vec<u8>, server: &str, official_meta: &[u8]) {
    out.extend_from_slice(b"{\"server\":");
    out.extend_from_slice(server.as_bytes());
    out.extend_from_slice(b",\"_meta\":{\"");
    out.extend_from_slice(OFFICIAL_META.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(official_meta);
    out.extend_from_slice(b"}}");
}

/// The length of what [`write_response`] appends.
pub fn response_len(server: &str, official_meta: &[u8]) -> usize {
    // `{"server":` + `,"_meta":{"` + OFFICIAL_META + `":` + `}}`
    10 + server.len() + 11 + OFFICIAL_META.len() + 2 + official_meta.len() + 2
}

/// Formats a timestamp as the API does.
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn renders_the_official_server_response_shape() {
        let t = DateTime::parse_from_rfc3339("2025-09-01T10:00:00.123456789Z").unwrap().with_timezone(&Utc);
        let server = ServerJson::from_value(json!({"name": "a/b", "description": "d", "version": "1.0.0"})).unwrap();
        let entry = Entry {
            server: Arc::new(server),
            official: OfficialMeta { is_latest: true, ..OfficialMeta::new_active(t) },
            source: SourceName::parse("s").unwrap(),
        };
        let v: Value = serde_json::from_slice(&entry.render()).unwrap();
        assert_eq!(
            v,
            json!({
                "server": {"name": "a/b", "description": "d", "version": "1.0.0"},
                "_meta": {OFFICIAL_META: {
                    "status": "active",
                    "statusChangedAt": "2025-09-01T10:00:00.123456789Z",
                    "publishedAt": "2025-09-01T10:00:00.123456789Z",
                    "updatedAt": "2025-09-01T10:00:00.123456789Z",
                    "isLatest": true
                }}
            })
        );
        let back: Entry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
    }
}
