//! Waiting for a state instead of sleeping: poll a probe until it says yes, with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::anyhow;

/// How long to wait for anything asynchronous (start-up, a re-read, readiness).
pub const WAIT: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` every 50 ms until it returns `Ok(Some(_))`; errors count as "not yet" (the last
/// one is reported on timeout).
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if start.elapsed() > timeout {
            return match last_error {
                Some(e) => Err(e.context(format!("timed out after {timeout:?} waiting for {what}"))),
                None => Err(anyhow!("timed out after {timeout:?} waiting for {what}")),
            };
        }
        tokio::time::sleep(POLL).await;
    }
}
