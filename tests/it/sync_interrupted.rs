//! A sync that dies between storing its last batch and finishing the updates phase (bundle
//! members still without their bundle's categories, no anchor saved): the next run must leave
//! the catalog as an uninterrupted sync would. A kill -9 lands there whenever it comes after
//! `fetch_missing`'s flush and before bundle inheritance has walked the store (a walk over the
//! whole catalog); the panic here stands in for it deterministically, and dropping the store
//! keeps what the run had stored, as that flush does.

use crate::harness::{config, fake_with, stored_identities, synthetic, synthetic_identities};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use wucache::store::Store;
use wucache::upstream::{run_sync, Phase, Progress, Quiet};

/// Panics (standing in for a crash) once the updates phase has stored all it had to fetch.
#[derive(Default)]
struct CrashAfterLastBatch {
    updating: AtomicBool,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for CrashAfterLastBatch {
    fn phase(&self, phase: Phase, total: u64) {
        self.updating.store(phase == Phase::Updates, Ordering::SeqCst);
        self.total.store(total, Ordering::SeqCst);
        self.done.store(0, Ordering::SeqCst);
    }

    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::SeqCst) + n;
        if self.updating.load(Ordering::SeqCst) && done >= self.total.load(Ordering::SeqCst) {
            panic!("simulated crash after the last batch of the updates phase");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_interrupted_after_its_last_batch_is_completed_by_the_next_run() {
    let catalog = synthetic(42, 120);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let config = config(&upstream.url(), &data);
    let crashed = {
        let (config, path) = (config.clone(), data.path().to_path_buf());
        tokio::spawn(async move {
            let store = Store::open(&path).unwrap();
            run_sync(&store, &config, &CrashAfterLastBatch::default()).await
        })
        .await
    };
    assert!(crashed.is_err_and(|e| e.is_panic()), "the first run died");

    let store = Store::open(data.path()).unwrap();
    assert_eq!(
        stored_identities(&store),
        synthetic_identities(&catalog),
        "all stored"
    );
    run_sync(&store, &config, &Quiet).await.unwrap();

    let members: Vec<_> = catalog
        .docs
        .iter()
        .filter(|d| catalog.docs.iter().any(|b| b.bundled.contains(&d.update_id)))
        .collect();
    assert!(!members.is_empty());
    for member in members {
        let record = store.latest(&member.update_id).unwrap().unwrap();
        assert_eq!(
            record.products[..],
            member.products[..],
            "member {}",
            member.update_id
        );
        assert_eq!(
            record.classifications[..],
            member.classifications[..],
            "member {}",
            member.update_id
        );
    }
}
