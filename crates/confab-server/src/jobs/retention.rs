//! Retention: conversations whose last message is older than their bot's `retention_days` are
//! deleted, in batches, exactly as `DELETE` deletes one (the store's erasure: no trace of the
//! text left, search entries, datapoints and queued events gone, rollup counts kept). One round
//! is [`expire_once`]; the store makes each conversation's deletion happen, and count, once,
//! however many servers run the job.

use confab_core::time::Millis;
use confab_store::{Result, Store};

/// Conversations deleted per transaction: small enough that one erasure (which rewrites the
/// pages it frees) does not hold the writer for long.
pub const BATCH: u32 = 200;

/// Deletes every conversation past its bot's retention at `now`, a batch at a time; returns
/// how many this call deleted (those another server deleted meanwhile are not counted here).
pub async fn expire_once(store: &dyn Store, now: Millis) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let n = store.expire_conversations(now, BATCH).await?;
        deleted += n;
        crate::observe::record_deleted("retention", n);
        if n < u64::from(BATCH) {
            return Ok(deleted);
        }
    }
}
