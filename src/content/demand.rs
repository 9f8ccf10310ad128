//! Who still wants a transfer, and when it must stop early. Each client waiting for a transfer
//! holds an `Interest`; prefetch (or a client asking for a file prefetch wants) marks the
//! transfer kept. A transfer halts when the cache stops, or when it is not kept and has no
//! interest: at once while it waits for a slot, after `ABANDON_GRACE` once it runs — the grace
//! spans the moment between two range requests of one client, and costs nothing to a queued
//! transfer, which has nothing to resume. `cache` runs the transfers and reacts to the `Halt`.
//! Uses tokio only.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a running transfer nobody waits for goes on before it is cancelled (a queued one
/// is cancelled at once).
pub(crate) const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// Who asks for a payload: decides whether a full queue refuses the request and whether
/// the transfer outlives the asker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A client. Refused when a new transfer would have to wait and `max_queued` already do;
    /// the transfer is cancelled once every client waiting for it has gone, unless `keep`.
    Client {
        /// Prefetch wants the file: the transfer finishes even when every client has gone.
        keep: bool,
    },
    /// Prefetch: waits for a slot however long the queue, and keeps the transfer.
    Prefetch,
}

/// The audience of one transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Demand {
    /// Clients waiting for it now.
    clients: usize,
    /// It finishes whoever waits (prefetch wants it).
    keep: bool,
    /// It holds a slot (is no longer queued).
    running: bool,
}

impl Demand {
    fn gone(&self) -> bool {
        self.clients == 0 && !self.keep
    }
}

/// Why a transfer stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The cache is stopping (shutdown): keep the partial for the next start.
    Stopping,
    /// Every client has gone and nobody keeps the transfer: cancel it, keep the partial.
    Abandoned,
}

/// The demand of one transfer: joined by askers, watched by the transfer's watchdog.
#[derive(Debug, Clone)]
pub(crate) struct Audience {
    demand: Arc<watch::Sender<Demand>>,
}

impl Audience {
    /// The audience of a transfer that starts `running`, or queued.
    pub(crate) fn new(running: bool) -> Audience {
        let demand = Demand {
            running,
            ..Demand::default()
        };
        Audience {
            demand: Arc::new(watch::channel(demand).0),
        }
    }

    /// The transfer got its slot: from now on it is halted only after the grace.
    pub(crate) fn runs(&self) {
        self.demand.send_modify(|demand| demand.running = true);
    }

    /// Counts `asker` in; a client gets the `Interest` that counts it out when dropped.
    pub(crate) fn join(&self, asker: Asker) -> Option<Interest> {
        match asker {
            Asker::Prefetch => {
                self.demand.send_modify(|demand| demand.keep = true);
                None
            }
            Asker::Client { keep } => {
                self.demand.send_modify(|demand| {
                    demand.clients += 1;
                    demand.keep |= keep;
                });
                Some(Interest {
                    demand: Arc::clone(&self.demand),
                })
            }
        }
    }

    /// Clients waiting now.
    pub(crate) fn clients(&self) -> usize {
        self.demand.borrow().clients
    }

    /// Sets `halt` once the cache stops (`stopping` turns true) or the audience is gone:
    /// at once while queued, for `grace` (`ABANDON_GRACE`) once running; runs until then.
    pub(crate) async fn watch(
        self,
        mut stopping: watch::Receiver<bool>,
        halt: watch::Sender<Option<Halt>>,
        grace: Duration,
    ) {
        let demand = self.demand.subscribe();
        drop(self);
        let reason = tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => Halt::Stopping,
            () = abandoned(demand, grace) => Halt::Abandoned,
        };
        halt.send_replace(Some(reason));
    }
}

/// Resolves once the demand is gone while queued, or has been gone for `grace` while
/// running without coming back.
async fn abandoned(mut demand: watch::Receiver<Demand>, grace: Duration) {
    loop {
        let gone = demand.wait_for(Demand::gone).await.map(|gone| *gone);
        match gone {
            Ok(gone) if !gone.running => return,
            Ok(_) => {}
            // Every handle is gone: the transfer is over and nobody will come back.
            Err(_) => return std::future::pending().await,
        }
        let back = tokio::time::timeout(grace, demand.wait_for(|d| !d.gone())).await;
        if back.is_err() {
            return;
        }
    }
}

/// Resolves with the reason once `halt` is set.
pub(crate) async fn halted(halt: &mut watch::Receiver<Option<Halt>>) -> Halt {
    let reason = halt
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|reason| *reason);
    match reason {
        Some(reason) => reason,
        // The watchdog ends only after setting a reason; without one, nothing halts us.
        None => std::future::pending().await,
    }
}

/// A client's claim on a transfer; dropping the last one (the client went away) starts the
/// grace after which an unkept transfer is cancelled.
#[derive(Debug)]
pub struct Interest {
    demand: Arc<watch::Sender<Demand>>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.demand
            .send_modify(|demand| demand.clients = demand.clients.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grace of these tests: long against the short sleeps before a client comes back.
    const GRACE: Duration = Duration::from_secs(1);

    fn watched(audience: &Audience) -> (watch::Sender<bool>, watch::Receiver<Option<Halt>>) {
        let stopping = watch::channel(false).0;
        let (halt, seen) = watch::channel(None);
        tokio::spawn(audience.clone().watch(stopping.subscribe(), halt, GRACE));
        (stopping, seen)
    }

    async fn settled(halt: &mut watch::Receiver<Option<Halt>>) -> Halt {
        let limit = GRACE * 20;
        tokio::time::timeout(limit, halted(halt))
            .await
            .expect("halted within the limit")
    }

    #[tokio::test]
    async fn a_transfer_halts_once_its_last_client_has_gone_for_the_grace() {
        let audience = Audience::new(true);
        let first = audience.join(Asker::Client { keep: false });
        let second = audience.join(Asker::Client { keep: false });
        let (_stopping, mut halt) = watched(&audience);
        drop(first);
        tokio::time::sleep(GRACE * 2).await;
        assert_eq!(*halt.borrow(), None, "one client still waits");
        assert_eq!(audience.clients(), 1);
        drop(second);
        assert_eq!(settled(&mut halt).await, Halt::Abandoned);
    }

    #[tokio::test]
    async fn a_client_back_within_the_grace_keeps_the_transfer() {
        let audience = Audience::new(true);
        let first = audience.join(Asker::Client { keep: false });
        let (_stopping, mut halt) = watched(&audience);
        drop(first);
        tokio::time::sleep(GRACE / 20).await;
        let back = audience.join(Asker::Client { keep: false });
        tokio::time::sleep(GRACE * 3 / 2).await;
        assert_eq!(*halt.borrow(), None, "the client came back within the grace");
        drop(back);
        assert_eq!(settled(&mut halt).await, Halt::Abandoned);
    }

    #[tokio::test]
    async fn a_queued_transfer_halts_as_soon_as_its_last_client_has_gone() {
        let audience = Audience::new(false);
        let client = audience.join(Asker::Client { keep: false });
        let (_stopping, mut halt) = watched(&audience);
        drop(client);
        let halted_in = tokio::time::timeout(GRACE / 2, halted(&mut halt)).await;
        assert_eq!(halted_in.ok(), Some(Halt::Abandoned), "no grace while queued");

        let audience = Audience::new(false);
        let client = audience.join(Asker::Client { keep: false });
        let (_stopping, mut halt) = watched(&audience);
        audience.runs();
        drop(client);
        tokio::time::sleep(GRACE / 4).await;
        assert_eq!(*halt.borrow(), None, "the grace applies once it runs");
        assert_eq!(settled(&mut halt).await, Halt::Abandoned);
    }

    #[tokio::test]
    async fn a_kept_transfer_runs_on_without_clients_until_the_cache_stops() {
        for keeper in [Asker::Prefetch, Asker::Client { keep: true }] {
            let audience = Audience::new(true);
            let client = audience.join(Asker::Client { keep: false });
            let kept = audience.join(keeper);
            let (stopping, mut halt) = watched(&audience);
            drop((client, kept));
            tokio::time::sleep(GRACE * 2).await;
            assert_eq!(*halt.borrow(), None, "{keeper:?}");
            stopping.send_replace(true);
            assert_eq!(settled(&mut halt).await, Halt::Stopping);
        }
    }
}
