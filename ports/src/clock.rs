//! Injected time.

use chrono::{DateTime, Utc};

/// The current time. Production uses the system clock; tests use a fixed or stepped one.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}
