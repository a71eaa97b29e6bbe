//! Rendered listing pages and their `ETag`s, kept by (registry snapshot digest, path and query):
//! a new snapshot simply stops hitting the old keys, which age out.

use std::sync::Arc;

use bytes::Bytes;
use moka::sync::Cache;

/// The page cache, bounded by what its pages weigh (page, URL and `ETag` bytes).
#[derive(Debug)]
pub(super) struct PageCache(Cache<(Arc<str>, String), (Bytes, Arc<str>)>);

impl PageCache {
    /// A cache of at most `bytes`; `None` for 0 (no cache).
    pub(super) fn new(bytes: u64) -> Option<Self> {
        (bytes > 0).then(|| {
            Self(
                Cache::builder()
                    .max_capacity(bytes)
                    .weigher(|k: &(Arc<str>, String), v: &(Bytes, Arc<str>)| {
                        u32::try_from(k.1.len() + v.0.len() + v.1.len() + 64).unwrap_or(u32::MAX)
                    })
                    .time_to_idle(std::time::Duration::from_secs(600))
                    .build(),
            )
        })
    }

    /// The page and `ETag` for `key`, rendered by `render` on a miss.
    pub(super) fn get_with(
        &self,
        key: (Arc<str>, String),
        render: impl FnOnce() -> (Bytes, Arc<str>),
    ) -> (Bytes, Arc<str>) {
        self.0.get_with(key, render)
    }
}
