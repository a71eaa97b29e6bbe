//! Validated names: server names (`namespace/name`), and source/registry names (DNS labels).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name was rejected. The message says what the rule is, so it can be shown to users as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("server name must be 3 to 200 characters long, got {0}")]
    Length(usize),
    #[error("server name must have the form `namespace/name` with exactly one `/`")]
    Slash,
    #[error(
        "server name namespace `{0}` may only contain letters, digits, `.` and `-`, and must start and end with a letter or digit"
    )]
    Namespace(String),
    #[error(
        "server name part `{0}` may only contain letters, digits, `.`, `_` and `-`, and must start and end with a letter or digit"
    )]
    Name(String),
    #[error(
        "`{0}` is not a valid {1} name: use 1 to 63 lowercase letters, digits and `-`, starting and ending with a letter or digit"
    )]
    Label(String, &'static str),
}

/// A server name: reverse-DNS namespace, one `/`, a name. Case-sensitive. Held as a boxed `str`
/// (every entry has one; no spare capacity).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName(Box<str>);

fn alnum_edges(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric()
}

impl ServerName {
    /// Parses a server name with the official rules.
    ///
    /// # Errors
    /// A [`NameError`] naming the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let len = raw.chars().count();
        if !(3..=200).contains(&len) {
            return Err(NameError::Length(len));
        }
        let mut parts = raw.split('/');
        let (Some(ns), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NameError::Slash);
        };
        if !alnum_edges(ns) || !ns.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-') {
            return Err(NameError::Namespace(ns.to_owned()));
        }
        if !alnum_edges(name) || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
        {
            return Err(NameError::Name(name.to_owned()));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `/`.
    pub fn namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(ns, _)| ns)
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_label(raw: &str, what: &'static str) -> Result<String, NameError> {
    let ok = (1..=63).contains(&raw.len())
        && alnum_edges(raw)
        && raw.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok { Ok(raw.to_owned()) } else { Err(NameError::Label(raw.to_owned(), what)) }
}

macro_rules! label_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Held shared (`Arc<str>`): every entry of a source carries its source's name, and a
        /// clone costs a reference count, not a string.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(std::sync::Arc<str>);

        impl $ty {
            /// Parses a DNS-label name.
            ///
            /// # Errors
            /// [`NameError::Label`] when the name is not a DNS label.
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                parse_label(raw, $what).map(|name| Self(name.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

label_type!(
    /// The name of a source: a DNS label (`[a-z0-9-]`, 1–63 characters).
    SourceName,
    "source"
);
label_type!(
    /// The name of a registry (tenant): a DNS label, used in URLs as `/registry/{name}`.
    RegistryName,
    "registry"
);

impl Serialize for ServerName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn server_names_follow_the_official_rules() {
        let cases: &[(&str, bool)] = &[
            ("io.github.user/server", true),
            ("com.example/my_server.v2", true),
            ("a/b", true),
            ("ab", false),
            ("io.github.user", false),
            ("a/b/c", false),
            ("-io/x", false),
            ("io-/x", false),
            ("io/x_", false),
            ("io/_x", false),
            ("io_x/y", false),
            ("io/x y", false),
            ("io.github.user/", false),
            ("/server", false),
            ("ünï/x", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(ServerName::parse(raw).is_ok(), *ok, "{raw}");
        }
        let long = format!("a/{}", "b".repeat(198));
        assert!(ServerName::parse(&long).is_ok());
        assert_eq!(ServerName::parse(&format!("{long}b")), Err(NameError::Length(201)));
    }

    #[test]
    fn namespace_is_the_part_before_the_slash() {
        let n = ServerName::parse("io.github.user/server").unwrap();
        assert_eq!(n.namespace(), "io.github.user");
        assert_eq!(n.to_string(), "io.github.user/server");
    }

    #[test]
    fn labels_are_dns_labels() {
        assert!(RegistryName::parse("default").is_ok());
        assert!(SourceName::parse("mcp-upstream-2").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(SourceName::parse(bad).is_err(), "{bad}");
        }
        let msg = RegistryName::parse("Bad").unwrap_err().to_string();
        assert!(msg.contains("registry") && msg.contains("lowercase"), "{msg}");
    }

    proptest! {
        #[test]
        fn parsed_names_round_trip(ns in "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", n in "[a-zA-Z0-9]([a-zA-Z0-9._-]{0,20}[a-zA-Z0-9])?") {
            let raw = format!("{ns}/{n}");
            let parsed = ServerName::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_str(), raw.as_str());
        }

        #[test]
        fn parser_never_panics(raw in ".{0,250}") {
            let _ = ServerName::parse(&raw);
        }
    }
}
