//! A gate in front of content answers: while closed, every content request waits (counted and
//! active) before anything is answered, so a test can hold transfers at the upstream, see how
//! many a client starts at once, and let them go when it chooses.

use tokio::sync::watch;

/// Open unless a test closed it; shared by all connections of one fake.
#[derive(Debug)]
pub(super) struct Gate {
    closed: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            closed: watch::channel(false).0,
        }
    }
}

impl Gate {
    pub(super) fn set_closed(&self, closed: bool) {
        self.closed.send_replace(closed);
    }

    /// Waits until the gate is open (at once when it is).
    pub(super) async fn pass(&self) {
        let mut closed = self.closed.subscribe();
        // The sender lives as long as the fake, so the wait ends only when the gate opens.
        let _ = closed.wait_for(|closed| !*closed).await;
    }
}
