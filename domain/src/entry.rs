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
    /// Appends this object's JSON: exactly what `serde_json` writes for it, written directly
    /// (every row of a rendered page writes one; rows do not keep them rendered). Instants' texts
    /// come from, and go to, `stamps` (one per page or pass).
    pub fn write_json(&self, out: &mut Vec<u8>, stamps: &mut Stamps) {
        out.extend_from_slice(b"{\"status\":\"");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"statusChangedAt\":\"");
        stamps.write(out, &self.status_changed_at);
        if let Some(message) = &self.status_message {
            out.extend_from_slice(b"\",\"statusMessage\":");
            // A JSON string of a `String` cannot fail to serialize.
            let _ = serde_json::to_writer(&mut *out, message);
            out.extend_from_slice(b",\"publishedAt\":\"");
        } else {
            out.extend_from_slice(b"\",\"publishedAt\":\"");
        }
        stamps.write(out, &self.published_at);
        out.extend_from_slice(b"\",\"updatedAt\":\"");
        stamps.write(out, &self.updated_at);
        out.extend_from_slice(if self.is_latest { b"\",\"isLatest\":true}" } else { b"\",\"isLatest\":false}" });
    }

    /// The length of what [`OfficialMeta::write_json`] appends.
    pub fn json_len(&self) -> usize {
        // `{"status":"` `","statusChangedAt":"` `","publishedAt":"` `","updatedAt":"` `","isLatest":` `}`
        let fixed = 11 + 21 + 17 + 15 + 13 + 1;
        let message = self.status_message.as_ref().map_or(0, |m| {
            // `","statusMessage":` + the JSON string + `,"publishedAt":"` replace `","publishedAt":"`.
            18 + serde_json::to_string(m).map_or(0, |s| s.len()) + 16 - 17
        });
        fixed
            + self.status.as_str().len()
            + rfc3339::len(&self.status_changed_at)
            + rfc3339::len(&self.published_at)
            + rfc3339::len(&self.updated_at)
            + if self.is_latest { 4 } else { 5 }
            + message
    }

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

/// The text of the last instant written, kept for the next: a row's three instants are often one
/// (a version first seen and never changed), and the rows of a page mostly share theirs (versions
/// first seen by one sync), so a page makes each distinct instant's text about once.
#[derive(Debug, Default)]
pub struct Stamps {
    last: Option<(DateTime<Utc>, Option<rfc3339::Stamp>)>,
}

impl Stamps {
    fn write(&mut self, out: &mut Vec<u8>, ts: &DateTime<Utc>) {
        let stamp = match self.last {
            Some((at, stamp)) if at == *ts => stamp,
            _ => {
                let stamp = rfc3339::Stamp::new(ts);
                self.last = Some((*ts, stamp));
                stamp
            }
        };
        match stamp {
            Some(stamp) => out.extend_from_slice(stamp.as_bytes()),
            None => rfc3339::write(out, ts),
        }
    }
}

/// RFC 3339 in UTC with the precision the timestamp has (nanoseconds when present), `Z` suffix.
pub mod rfc3339 {
    use super::{DateTime, SecondsFormat, Utc};
    use chrono::{Datelike, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(ts: &DateTime<Utc>) -> String {
        ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// The digits [`format`] writes after the seconds' `.`: none, 3, 6 or 9 (as many as the
    /// fraction needs); `None` when the timestamp is outside what [`write`] writes itself
    /// (years before 0 or after 9999, a leap second).
    fn fraction_digits(ts: &DateTime<Utc>) -> Option<(u32, u32)> {
        let nanos = ts.timestamp_subsec_nanos();
        if !(0..=9999).contains(&ts.year()) || nanos >= 1_000_000_000 {
            return None;
        }
        Some(match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (3, n / 1_000_000),
            n if n % 1_000 == 0 => (6, n / 1_000),
            n => (9, n),
        })
    }

    /// The length of what [`write`] appends.
    pub fn len(ts: &DateTime<Utc>) -> usize {
        match fraction_digits(ts) {
            Some((0, _)) => 20,
            Some((digits, _)) => 21 + digits as usize,
            None => format(ts).len(),
        }
    }

    /// Appends exactly what [`format`] returns, without its formatting machinery (metadata is
    /// written for every row of a page as the page is rendered).
    pub fn write(out: &mut Vec<u8>, ts: &DateTime<Utc>) {
        match Stamp::new(ts) {
            Some(stamp) => out.extend_from_slice(stamp.as_bytes()),
            None => out.extend_from_slice(format(ts).as_bytes()),
        }
    }

    /// A timestamp's text in a stack buffer, for the four-digit years [`write`] writes itself.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Stamp {
        buf: [u8; 30],
        len: usize,
    }

    impl Stamp {
        pub(super) fn new(ts: &DateTime<Utc>) -> Option<Self> {
            let (digits, fraction) = fraction_digits(ts)?;
            let (date, time) = (ts.date_naive(), ts.time());
            let mut buf = [0u8; 30];
            let year = u32::try_from(date.year()).unwrap_or_default();
            put_digits(&mut buf[0..4], year);
            buf[4] = b'-';
            put_digits(&mut buf[5..7], date.month());
            buf[7] = b'-';
            put_digits(&mut buf[8..10], date.day());
            buf[10] = b'T';
            put_digits(&mut buf[11..13], time.hour());
            buf[13] = b':';
            put_digits(&mut buf[14..16], time.minute());
            buf[16] = b':';
            put_digits(&mut buf[17..19], time.second());
            let mut len = 19;
            if digits > 0 {
                buf[19] = b'.';
                put_digits(&mut buf[20..20 + digits as usize], fraction);
                len = 20 + digits as usize;
            }
            buf[len] = b'Z';
            Some(Self { buf, len: len + 1 })
        }

        pub(super) fn as_bytes(&self) -> &[u8] {
            &self.buf[..self.len]
        }
    }

    /// Writes `value` into `slot` in decimal, leading zeros filling it (`value` fits).
    fn put_digits(slot: &mut [u8], value: u32) {
        let mut v = value;
        for d in slot.iter_mut().rev() {
            *d = b'0' + u8::try_from(v % 10).unwrap_or_default();
            v /= 10;
        }
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
        let mut out = Vec::with_capacity(self.json_len());
        self.write_json(&mut out, &mut Stamps::default());
        out
    }

    /// Appends the `ServerResponse` JSON of [`Entry::render`], with the instants' texts of the
    /// rows written before it (see [`Stamps`]).
    pub fn write_json(&self, out: &mut Vec<u8>, stamps: &mut Stamps) {
        out.extend_from_slice(b"{\"server\":");
        out.extend_from_slice(self.server.json().as_bytes());
        out.extend_from_slice(b",\"_meta\":{\"");
        out.extend_from_slice(OFFICIAL_META.as_bytes());
        out.extend_from_slice(b"\":");
        self.official.write_json(out, stamps);
        out.extend_from_slice(b"}}");
    }

    /// The length of what [`Entry::write_json`] appends.
    pub fn json_len(&self) -> usize {
        // `{"server":` + `,"_meta":{"` + OFFICIAL_META + `":` + `}}`
        10 + self.server.json().len() + 11 + OFFICIAL_META.len() + 2 + self.official.json_len() + 2
    }
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
        assert_eq!(entry.render().len(), entry.json_len());
    }

    /// Instants at the edges of what the direct writer handles, and around them.
    fn instants() -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        for text in [
            "0000-01-01T00:00:00Z",
            "0001-02-03T04:05:06.7Z",
            "1970-01-01T00:00:00Z",
            "1999-12-31T23:59:59.999999999Z",
            "2025-09-01T10:00:00.123456789Z",
            "2025-09-01T10:00:00.120Z",
            "2025-09-01T10:00:00.000100Z",
            "2025-09-01T10:00:00.000000001Z",
            "2025-09-01T10:00:00.001Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            out.push(DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc));
        }
        // Outside four-digit years, and a leap second: written by chrono itself.
        out.push(DateTime::from_timestamp(-62_167_219_201, 5).unwrap());
        out.push(DateTime::from_timestamp(253_402_300_800, 0).unwrap());
        out.push(DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap());
        // A spread of ordinary instants and precisions.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = i64::try_from(x % 253_402_300_800).unwrap();
            let nanos = u32::try_from((x >> 20) % 1_000_000_000).unwrap();
            let nanos = match x % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            out.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        out
    }

    #[test]
    fn timestamps_are_written_exactly_as_chrono_formats_them() {
        for ts in instants() {
            let mut out = b"x".to_vec();
            rfc3339::write(&mut out, &ts);
            assert_eq!(std::str::from_utf8(&out[1..]).unwrap(), rfc3339::format(&ts), "{ts:?}");
            assert_eq!(out.len() - 1, rfc3339::len(&ts), "{ts:?}");
        }
    }

    #[test]
    fn official_meta_is_written_exactly_as_serde_writes_it() {
        let times = instants();
        let messages = [None, Some(String::new()), Some("moved to a \"new\" home\n\u{1}é 🚀".to_owned())];
        // Instants all different, all one, and two of three the same; one `Stamps` for all, as a
        // page's rows share one.
        let mut shared = Stamps::default();
        let picks = (0..times.len() - 11).flat_map(|i| [(i, i + 3, i + 11), (i, i, i), (i, i + 3, i), (i, i, i + 11)]);
        for (n, (changed, published, updated)) in picks.enumerate() {
            let message = &messages[n % messages.len()];
            for status in [Status::Active, Status::Deprecated, Status::Deleted] {
                for is_latest in [true, false] {
                    let meta = OfficialMeta {
                        status,
                        status_changed_at: times[changed],
                        status_message: message.clone(),
                        published_at: times[published],
                        updated_at: times[updated],
                        is_latest,
                    };
                    let mut out = Vec::new();
                    meta.write_json(&mut out, &mut shared);
                    assert_eq!(std::str::from_utf8(&out).unwrap(), serde_json::to_string(&meta).unwrap(), "{meta:?}");
                    assert_eq!(out.len(), meta.json_len(), "{meta:?}");
                }
            }
        }
    }
}
