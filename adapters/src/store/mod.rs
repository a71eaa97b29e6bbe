//! Entry stores.

pub mod embedded;
pub mod postgres;
pub mod postgres_admin;
