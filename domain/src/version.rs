//! Version strings and the official semver rule.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a version string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version must not be empty")]
    Empty,
    #[error("version must be at most 255 characters")]
    TooLong,
    #[error("version must not be `latest`: it is reserved for the latest-version lookup")]
    Latest,
    #[error("version `{0}` looks like a range; a server version must be one exact version")]
    Range(String),
}

/// A server version: any non-empty string that is not `latest` and not a range.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(Box<str>);

impl Version {
    /// Parses a version with the official rules.
    ///
    /// # Errors
    /// A [`VersionError`] saying which rule failed.
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        if raw.is_empty() {
            return Err(VersionError::Empty);
        }
        if raw.len() > 255 {
            return Err(VersionError::TooLong);
        }
        if raw == "latest" {
            return Err(VersionError::Latest);
        }
        if looks_like_range(raw) {
            return Err(VersionError::Range(raw.to_owned()));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The semantic version, when this version follows the official semver rule: an optional
    /// `v`, exactly three numeric parts without leading zeros, optional `-prerelease` and
    /// `+build`.
    pub fn semver(&self) -> Option<semver::Version> {
        let raw = self.0.strip_prefix('v').unwrap_or(&self.0);
        semver::Version::parse(raw).ok()
    }
}

fn looks_like_range(raw: &str) -> bool {
    let starts = ['^', '~', '>', '<', '=', '*'];
    if raw.starts_with(starts) || raw.contains(" - ") || raw.contains("||") {
        return true;
    }
    // `1.x`, `1.2.X`, `1.*`: a wildcard part.
    raw.split(['.', '-', '+']).take(3).any(|part| matches!(part, "x" | "X" | "*"))
}

/// Orders two semantic versions by semver precedence (build metadata ignored).
pub fn cmp_precedence(a: &semver::Version, b: &semver::Version) -> Ordering {
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| {
        match (a.pre.is_empty(), b.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => a.pre.cmp(&b.pre),
        }
    })
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
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
    fn semver_detection_follows_the_official_rule() {
        let cases: &[(&str, bool)] = &[
            ("1.0.0", true),
            ("v1.0.0", true),
            ("2.0.0-beta.1", true),
            ("1.0.0+build.5", true),
            ("0.0.1-seed", true),
            ("1.0", false),
            ("1.0.0.0", false),
            ("2021.03.05", false),
            ("01.0.0", false),
            ("snapshot", false),
            ("V1.0.0", false),
        ];
        for (raw, is_semver) in cases {
            let v = Version::parse(raw).unwrap();
            assert_eq!(v.semver().is_some(), *is_semver, "{raw}");
        }
    }

    #[test]
    fn latest_and_ranges_are_rejected() {
        assert_eq!(Version::parse("latest"), Err(VersionError::Latest));
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        for r in ["^1.2", ">=1", "~1.2.3", "1.x", "1.2.X", "1 - 2", "1.*", "<2", "*"] {
            assert!(matches!(Version::parse(r), Err(VersionError::Range(_))), "{r}");
        }
        for ok in ["1.0.0", "2024-01-01", "main", "1.0.0-x.1"] {
            assert!(Version::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn precedence_ignores_build_and_ranks_prereleases_below_releases() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(cmp_precedence(&v("1.0.0+a"), &v("1.0.0+b")), Ordering::Equal);
        assert_eq!(cmp_precedence(&v("1.0.0-rc.1"), &v("1.0.0")), Ordering::Less);
        assert_eq!(cmp_precedence(&v("2.0.0-beta"), &v("1.9.9")), Ordering::Greater);
        assert_eq!(cmp_precedence(&v("1.0.0-alpha"), &v("1.0.0-beta")), Ordering::Less);
        assert_eq!(cmp_precedence(&v("1.10.0"), &v("1.9.0")), Ordering::Greater);
    }

    proptest! {
        #[test]
        fn precedence_is_antisymmetric(a in (0u64..5, 0u64..5, 0u64..5), b in (0u64..5, 0u64..5, 0u64..5), pa in proptest::option::of("[a-c]{1,2}"), pb in proptest::option::of("[a-c]{1,2}")) {
            let mk = |(x, y, z): (u64, u64, u64), p: Option<String>| {
                let s = p.map_or(format!("{x}.{y}.{z}"), |p| format!("{x}.{y}.{z}-{p}"));
                semver::Version::parse(&s).unwrap()
            };
            let (va, vb) = (mk(a, pa), mk(b, pb));
            prop_assert_eq!(cmp_precedence(&va, &vb), cmp_precedence(&vb, &va).reverse());
        }

        #[test]
        fn parse_never_panics(raw in ".{0,300}") {
            let _ = Version::parse(&raw);
        }
    }
}
