//! Name and tag filters.
//!
//! - name globs: `*` matches any run of characters including `/`, `?` one character, `[…]` a
//!   class; matched against the full server name;
//! - tags: exact strings, read from the publisher-provided `_meta` (see [`ServerJson::tags`]);
//! - exclude wins over include; a non-empty include list needs a match; the name and the tags
//!   must both pass.

use std::collections::BTreeSet;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::server_json::ServerJson;

/// Include/exclude lists, as written in configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeExclude {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A filter as written in configuration: `names` (globs) and `tags` (exact).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(default)]
    pub names: IncludeExclude,
    #[serde(default)]
    pub tags: IncludeExclude,
}

/// An invalid filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid name pattern `{pattern}`: {reason}")]
    Glob { pattern: String, reason: String },
}

/// A compiled filter. The default filter lets everything through.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    tags_include: BTreeSet<String>,
    tags_exclude: BTreeSet<String>,
}

fn compile(patterns: &[String]) -> Result<Option<GlobSet>, FilterError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob: Glob = GlobBuilder::new(p)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| FilterError::Glob { pattern: p.clone(), reason: e.kind().to_string() })?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| FilterError::Glob { pattern: patterns.join(", "), reason: e.to_string() })
}

impl Filter {
    /// Compiles a filter spec.
    ///
    /// # Errors
    /// [`FilterError::Glob`] naming the first invalid pattern.
    pub fn new(spec: &FilterSpec) -> Result<Self, FilterError> {
        Ok(Self {
            include: compile(&spec.names.include)?,
            exclude: compile(&spec.names.exclude)?,
            tags_include: spec.tags.include.iter().cloned().collect(),
            tags_exclude: spec.tags.exclude.iter().cloned().collect(),
        })
    }

    /// Whether the filter lets everything through.
    pub fn is_pass_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none() && self.tags_include.is_empty() && self.tags_exclude.is_empty()
    }

    /// Whether a server passes: its name and its tags both pass.
    pub fn matches(&self, server: &ServerJson) -> bool {
        self.name_passes(server.name().as_str()) && self.tags_pass(&server.tags())
    }

    fn name_passes(&self, name: &str) -> bool {
        if self.exclude.as_ref().is_some_and(|set| set.is_match(name)) {
            return false;
        }
        self.include.as_ref().is_none_or(|set| set.is_match(name))
    }

    fn tags_pass(&self, tags: &BTreeSet<&str>) -> bool {
        if tags.iter().any(|t| self.tags_exclude.contains(*t)) {
            return false;
        }
        self.tags_include.is_empty() || tags.iter().any(|t| self.tags_include.contains(*t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(name: &str, tags: &[&str]) -> ServerJson {
        ServerJson::from_value(json!({
            "name": name, "description": "d", "version": "1",
            "_meta": {crate::server_json::PUBLISHER_PROVIDED: {"ns": {"k": {"tags": tags}}}}
        }))
        .unwrap()
    }

    fn spec(ni: &[&str], ne: &[&str], ti: &[&str], te: &[&str]) -> FilterSpec {
        let v = |xs: &[&str]| xs.iter().map(ToString::to_string).collect();
        FilterSpec {
            names: IncludeExclude { include: v(ni), exclude: v(ne) },
            tags: IncludeExclude { include: v(ti), exclude: v(te) },
        }
    }

    #[test]
    fn filter_rules() {
        type Case<'a> = (FilterSpec, &'a str, &'a [&'a str], bool);
        let cases: Vec<Case> = vec![
            (spec(&[], &[], &[], &[]), "a/b", &[], true),
            (spec(&["io.github.*"], &[], &[], &[]), "io.github.x/y", &[], true),
            (spec(&["io.github*"], &[], &[], &[]), "io.github.x/y", &[], true),
            (spec(&["*/fetch"], &[], &[], &[]), "io.github.x/fetch", &[], true),
            (spec(&["io.*"], &[], &[], &[]), "com.x/io", &[], false),
            (spec(&["*"], &["*/deprecated"], &[], &[]), "a/deprecated", &[], false),
            (spec(&["a/*"], &["a/*"], &[], &[]), "a/b", &[], false),
            (spec(&["a/?"], &[], &[], &[]), "a/b", &[], true),
            (spec(&["a/?"], &[], &[], &[]), "a/bc", &[], false),
            (spec(&[], &[], &["db"], &[]), "a/b", &["db", "sql"], true),
            (spec(&[], &[], &["db"], &[]), "a/b", &["sql"], false),
            (spec(&[], &[], &["db"], &[]), "a/b", &[], false),
            (spec(&[], &[], &[], &["beta"]), "a/b", &["db", "beta"], false),
            (spec(&[], &[], &["db"], &["beta"]), "a/b", &["db", "beta"], false),
            (spec(&["a/*"], &[], &["db"], &[]), "a/b", &["x"], false),
            (spec(&["a/*"], &[], &["db"], &[]), "b/b", &["db"], false),
            (spec(&["a/*"], &[], &["db"], &[]), "a/b", &["db"], true),
            (spec(&[], &[], &["DB"], &[]), "a/b", &["db"], false),
        ];
        for (s, name, tags, want) in cases {
            let f = Filter::new(&s).unwrap();
            assert_eq!(f.matches(&server(name, tags)), want, "{s:?} {name} {tags:?}");
        }
    }

    #[test]
    fn invalid_glob_names_the_pattern() {
        let err = Filter::new(&spec(&["a/[b"], &[], &[], &[])).unwrap_err();
        assert!(err.to_string().contains("`a/[b`"), "{err}");
    }

    #[test]
    fn spec_rejects_unknown_keys() {
        let e = serde_json::from_value::<FilterSpec>(json!({"name": {"include": []}})).unwrap_err();
        assert!(e.to_string().contains("unknown field `name`"));
    }
}
