//! Background jobs: the finaliser (idle conversations → ended, final datapoints, events) and the
//! webhook sender. Each is a one-step function taking `now`, so tests drive them without
//! sleeping; [`spawn`] runs them in loops until shutdown. Both are safe to run on any number of
//! servers at once: finalising is a compare-and-set in the store, sending claims a lease.

pub mod deliver;
pub mod finalise;

use std::time::Duration;

use confab_core::time::now_millis;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How often the loops look for work when the last round found none.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Starts the finaliser and sender loops; they stop when `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let finaliser = {
        let state = state.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let allow = state.config.allow_private_targets;
            let llm = state.config.llm.clone().map(|c| finalise::Llm::new(c, allow));
            loop {
                let busy =
                    match finalise::finalise_idle_once(&*state.store, llm.as_ref(), now_millis())
                        .await
                    {
                        Ok(outcome) => {
                            metrics::counter!("confab_finaliser_rounds_total", "result" => "ok")
                                .increment(1);
                            outcome.finalised > 0 || outcome.skipped > 0
                        }
                        Err(e) => {
                            metrics::counter!("confab_finaliser_rounds_total", "result" => "error")
                                .increment(1);
                            tracing::warn!(error = %e, "finaliser round failed");
                            false
                        }
                    };
                if !busy && wait(&mut stop, IDLE_POLL).await {
                    break;
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    };
    let sender = {
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let client = deliver::client(state.config.allow_private_targets);
            loop {
                let busy =
                    match deliver::deliver_due_once(&*state.store, &client, now_millis()).await {
                        Ok(outcome) => outcome.tried() > 0,
                        Err(e) => {
                            tracing::warn!(error = %e, "webhook round failed");
                            false
                        }
                    };
                if !busy && wait(&mut stop, Duration::from_secs(1)).await {
                    break;
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    };
    vec![finaliser, sender]
}

/// Sleeps for `d` or until told to stop; returns whether to stop.
async fn wait(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
