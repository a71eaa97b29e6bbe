//! Entry stores.

pub mod embedded;
