//! Implementations of the registry ports.
//!
//! - [`file`]: a [`thv_ports::Source`] reading a local file;
//! - [`store::embedded`]: the embedded [`thv_ports::EntryStore`], a data directory;
//! - [`clock`]: the system clock and a settable clock for tests.
//!
//! Adding an adapter: implement the port trait in its own module, translate every foreign error
//! into the port's error enum at the boundary (with context, never secrets), and run the port's
//! contract suite from `integration-tests` against it.

pub mod clock;
pub mod file;
pub mod store;

pub use clock::{ManualClock, SystemClock};
pub use file::FileSource;
pub use store::embedded::EmbeddedStore;
