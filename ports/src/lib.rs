//! Traits the registry core needs from the outside world.
//!
//! Each port is an object-safe `#[async_trait]` trait used as `Arc<dyn Port>`, with one error enum
//! that has an explicit `Internal` variant. Lookups return `Result<Option<T>, E>`: absence is not
//! an error, the caller decides what it means.
//!
//! Adding a port: define the trait and its error enum here (no I/O crates), implement it in
//! `adapters`, wire it in `app`, and give it a contract test suite in `testkit` that every
//! implementation runs.

pub mod clock;
pub mod deployments;
pub mod source;
pub mod store;
pub mod tokens;

pub use clock::Clock;
pub use deployments::{DeployedServer, Deployments, DeploymentsError};
pub use source::{Document, Fetched, Source, SourceError};
pub use store::{ChangeFeed, EntryStore, NameWrite, SourceLease, SourceState, StoreError};
pub use tokens::{TokenError, TokenVerifier};
