//! Entry stores.

pub mod embedded;
pub mod memory;
pub mod postgres;
pub mod postgres_admin;
