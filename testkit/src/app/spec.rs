//! The parts of a [`super::TestApp`]: one source ([`SourceSpec`]) and one registry
//! ([`RegistrySpec`]), each a typed builder over its configuration keys.

use std::path::Path;

use serde_json::{Map, Value, json};

/// `{name: <name>, <keys>…}`: the shape of a source and of a registry in the configuration.
fn named(name: &str, keys: &Map<String, Value>) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), json!(name));
    object.extend(keys.clone());
    Value::Object(object)
}

/// One entry of `sources:`.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    name: String,
    keys: Map<String, Value>,
}

impl SourceSpec {
    fn with_kind(name: &str, kind: &str, settings: Value) -> Self {
        let mut keys = Map::new();
        keys.insert(kind.to_owned(), settings);
        Self { name: name.to_owned(), keys }
    }

    /// A file source reading `path`.
    pub fn file(name: &str, path: &Path) -> Self {
        Self::with_kind(name, "file", json!({"path": path}))
    }

    /// A file source reading `url` over http(s).
    pub fn url(name: &str, url: &str) -> Self {
        Self::with_kind(name, "file", json!({"url": url}))
    }

    /// A git source reading `path` at the tip of `branch`.
    pub fn git(name: &str, repository: &str, branch: &str, path: &str) -> Self {
        Self::with_kind(name, "git", json!({"repository": repository, "branch": branch, "path": path}))
    }

    /// A git source pinned otherwise than to a branch: `pin` is `tag` or `commit`.
    #[must_use]
    pub fn pin(mut self, pin: &str, value: &str) -> Self {
        if let Some(Value::Object(git)) = self.keys.get_mut("git") {
            for key in ["branch", "tag", "commit"] {
                git.remove(key);
            }
            git.insert(pin.to_owned(), json!(value));
        }
        self
    }

    /// An API source paging through `endpoint`.
    pub fn api(name: &str, endpoint: &str) -> Self {
        Self::with_kind(name, "api", json!({"endpoint": endpoint}))
    }

    /// A managed source: entries published through the write API.
    pub fn managed(name: &str) -> Self {
        Self::with_kind(name, "managed", json!({}))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `format:` (`toolhive`, `upstream`).
    #[must_use]
    pub fn format(self, format: &str) -> Self {
        self.with("format", json!(format))
    }

    /// `syncPolicy.interval`.
    #[must_use]
    pub fn interval(self, interval: &str) -> Self {
        self.sync_policy("interval", json!(interval))
    }

    /// One key of `syncPolicy` (`interval`, `timeout`, `maxInvalidRatio`, `tombstoneRetention`).
    #[must_use]
    pub fn sync_policy(mut self, key: &str, value: Value) -> Self {
        let policy = self.keys.entry("syncPolicy").or_insert_with(|| json!({}));
        policy[key] = value;
        self
    }

    /// `filter:` (`{names: {include: [...]}, tags: {...}}`).
    #[must_use]
    pub fn filter(self, filter: Value) -> Self {
        self.with("filter", filter)
    }

    /// One key of the kind's settings (`auth`, `timeout`, `maxBytes`…).
    #[must_use]
    pub fn kind_setting(mut self, key: &str, value: Value) -> Self {
        for kind in ["file", "git", "api", "managed"] {
            if let Some(settings) = self.keys.get_mut(kind) {
                settings[key] = value;
                return self;
            }
        }
        self
    }

    /// Any other key of the source.
    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.keys.insert(key.to_owned(), value);
        self
    }

    pub(super) fn to_value(&self) -> Value {
        named(&self.name, &self.keys)
    }
}

/// One entry of `registries:`.
#[derive(Debug, Clone)]
pub struct RegistrySpec {
    name: String,
    keys: Map<String, Value>,
}

impl RegistrySpec {
    /// A registry over `sources`, in precedence order.
    pub fn new(name: &str, sources: &[&str]) -> Self {
        let mut keys = Map::new();
        keys.insert("sources".into(), json!(sources));
        Self { name: name.to_owned(), keys }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `filter:`.
    #[must_use]
    pub fn filter(self, filter: Value) -> Self {
        self.with("filter", filter)
    }

    /// `access: public`: callers without a token may read it (`oauth` mode).
    #[must_use]
    pub fn public(self) -> Self {
        self.with("access", json!("public"))
    }

    /// `deployed: {namespaces: [...]}`: the deployed servers of these namespaces are listed.
    #[must_use]
    pub fn deployed(self, namespaces: &[&str]) -> Self {
        self.with("deployed", json!({"namespaces": namespaces}))
    }

    /// `access:` (`public`, `authenticated` or a claim map).
    #[must_use]
    pub fn access(self, access: Value) -> Self {
        self.with("access", access)
    }

    /// Any other key of the registry (`deployed`…).
    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.keys.insert(key.to_owned(), value);
        self
    }

    pub(super) fn to_value(&self) -> Value {
        named(&self.name, &self.keys)
    }
}
