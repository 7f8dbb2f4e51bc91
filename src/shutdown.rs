//! The shutdown signal shared by every long-running task.
//!
//! One [`ShutdownTrigger`] fires it; any number of [`Shutdown`] clones observe it. Tasks wait
//! on [`Shutdown::recv`] in a `select!` beside their real work, so that work in flight is
//! dropped (cancelled) at the first await point after the signal, instead of each task
//! polling an ad-hoc flag.

use tokio::sync::watch;

/// Fires the shutdown signal.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Observes the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// Creates a trigger and its first observer: for a program that runs the daemon
/// ([`crate::App::run`]) and decides itself when it stops.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Tells every observer to stop.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Whether the signal has fired.
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the signal fires (at once if it already has). If the trigger is dropped
    /// without firing, this never completes: dropping is not a request to stop.
    pub async fn recv(&mut self) {
        if self.0.wait_for(|fired| *fired).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
