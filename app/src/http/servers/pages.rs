//! Rendered read responses (listing pages, version lists, single versions) with their `ETag`s
//! and, once asked for, their compressed forms, kept by (registry snapshot digest, path and
//! query): a new snapshot simply stops hitting the old keys, which age out.

use std::sync::Arc;

use moka::sync::Cache;

use crate::http::encoding::Rendered;

/// The page cache, bounded by what its entries weigh: URL, `ETag` and body bytes, plus half the
/// body again for the compressed forms it may come to hold (a compressed JSON page is a fifth
/// of it or less, and one client rarely asks for more than one coding).
#[derive(Debug)]
pub(super) struct PageCache(Cache<(Arc<str>, String), Arc<Rendered>>);

impl PageCache {
    /// A cache of at most `bytes`; `None` for 0 (no cache).
    pub(super) fn new(bytes: u64) -> Option<Self> {
        (bytes > 0).then(|| {
            Self(
                Cache::builder()
                    .max_capacity(bytes)
                    .weigher(|k: &(Arc<str>, String), v: &Arc<Rendered>| {
                        u32::try_from(k.1.len() + v.len() + v.len() / 2 + 128).unwrap_or(u32::MAX)
                    })
                    .time_to_idle(std::time::Duration::from_secs(600))
                    .build(),
            )
        })
    }

    /// The response kept for `key`, rendered by `render` on a miss; `None` (nothing kept) when
    /// `render` finds nothing to render.
    pub(super) fn get_or_render(
        &self,
        key: (Arc<str>, String),
        render: impl FnOnce() -> Option<Arc<Rendered>>,
    ) -> Option<Arc<Rendered>> {
        self.0.optionally_get_with(key, render)
    }
}
