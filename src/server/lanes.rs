//! Payload lanes: nginx's worker model for plain-HTTP client connections. A few threads (one
//! per core), each running a runtime of its own with a single thread, serve connections while
//! they ask for committed payloads (`payload::serve_plain`, sendfile). A connection stays on
//! the lane it was given: its readiness events, its sendfile calls and its wake-ups all happen
//! on one thread, with no work stealing and no cross-core hand-off per range — on the shared
//! multi-threaded runtime those cost about a fifth of the payload path's CPU (issue #13). A
//! connection whose request the lane does not answer goes back to the main runtime, with the
//! bytes read so far, for hyper (`Unregistered`). A lane's blocking work (cold ranges from
//! disk) goes to its own runtime's blocking pool.
//!
//! Lanes stop when `Lanes` is dropped (after the listener's drain): connections still on a
//! lane then are closed.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Threads a lane's blocking pool may start (each sends one cold range from disk at a time;
/// tokio's default is 512 per runtime, which with a lane per core would multiply).
const MAX_BLOCKING_PER_LANE: usize = 64;

/// The lanes of one listener.
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
}

/// One lane: where to spawn onto it, and how to stop it.
struct Lane {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl Lanes {
    /// Starts `count` lanes (at least one); an error when a thread or runtime cannot be made.
    pub(crate) fn start(count: usize) -> io::Result<Lanes> {
        let lanes = (0..count.max(1)).map(Lane::start).collect::<io::Result<_>>()?;
        Ok(Lanes {
            lanes,
            next: AtomicUsize::new(0),
        })
    }

    /// One lane per core this process may use.
    pub(crate) fn per_core() -> io::Result<Lanes> {
        Lanes::start(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Runs `task` on the next lane, round robin.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        drop(self.lanes[at].handle.spawn(task));
    }

    /// How many lanes there are.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lanes.len()
    }
}

impl Lane {
    fn start(index: usize) -> io::Result<Lane> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(MAX_BLOCKING_PER_LANE)
            .thread_name(format!("wucache-lane-{index}-blocking"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("wucache-lane-{index}"))
            .spawn(move || {
                // Ends when the sender is dropped; the lane's tasks are dropped with the
                // runtime, and blocking sends still running finish on their own.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_background();
            })?;
        Ok(Lane { handle, _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_lane_threads_round_robin_and_stop_with_the_lanes() {
        let lanes = Lanes::start(2).unwrap();
        assert_eq!(lanes.len(), 2);
        let (sender, receiver) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let sender = sender.clone();
            lanes.spawn(async move {
                let name = std::thread::current().name().unwrap_or_default().to_string();
                sender.send(name).unwrap();
            });
        }
        let mut names: Vec<String> = (0..4).map(|_| receiver.recv().unwrap()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "wucache-lane-0",
                "wucache-lane-0",
                "wucache-lane-1",
                "wucache-lane-1"
            ]
        );
        // A task still waiting when the lanes go is dropped, not left running.
        let (_keep, held) = oneshot::channel::<()>();
        let (done, gone) = std::sync::mpsc::channel::<()>();
        lanes.spawn(async move {
            let _done = done;
            let _ = held.await;
        });
        drop(lanes);
        assert!(gone
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_err_and(|e| e == std::sync::mpsc::RecvTimeoutError::Disconnected));
    }

    #[test]
    fn a_lane_runs_at_most_its_share_of_blocking_threads() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::{Arc, Condvar, Mutex};
        let lanes = Lanes::start(1).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (finished, all_done) = std::sync::mpsc::channel();
        let asked = MAX_BLOCKING_PER_LANE + 36;
        for _ in 0..asked {
            let (running, most, gate, finished) =
                (running.clone(), most.clone(), gate.clone(), finished.clone());
            lanes.spawn(async move {
                let work = tokio::task::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let (open, opened) = &*gate;
                    let _open = opened.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
                    running.fetch_sub(1, Ordering::SeqCst);
                });
                work.await.unwrap();
                finished.send(()).unwrap();
            });
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while running.load(Ordering::SeqCst) < MAX_BLOCKING_PER_LANE && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (open, opened) = &*gate;
        *open.lock().unwrap() = true;
        opened.notify_all();
        for _ in 0..asked {
            all_done.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), MAX_BLOCKING_PER_LANE);
    }
}
