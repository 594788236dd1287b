//! Waiting on what can be observed, with a time limit: never a fixed sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a wait may take.
#[derive(Clone, Copy, Debug)]
pub struct Limit(pub Duration);

impl Limit {
    pub fn secs(s: u64) -> Limit {
        Limit(Duration::from_secs(s))
    }
}

/// ChatBell polls Dynamics every 7 s: what it learns from a change shows within
/// two cycles and a bit.
pub const SYNC: Limit = Limit(Duration::from_secs(25));

/// Polls `check` every 100 ms until it gives a value, or fails after `limit`
/// saying what was awaited.
pub async fn wait_until<T, F, Fut>(limit: Limit, what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() >= limit.0 {
            return Err(format!(
                "timed out after {:.0} s waiting for {what}",
                limit.0.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
