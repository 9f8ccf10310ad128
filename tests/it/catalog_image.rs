//! The catalog image a sync leaves beside the store (`catalog/latest.image`): `serve` loads
//! the same catalog from it as from the store's trees, and reads the trees instead when the
//! image is missing, stale, truncated or corrupt.

use crate::harness::{config, eventually, fake_with, http, synthetic};
use std::path::{Path, PathBuf};
use tempfile::{tempdir, TempDir};
use wucache::daemon::Daemon;
use wucache::model::UpdateRecord;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};

/// The header bytes that name the store state an image is of (magic, catalog id, generation).
const STAMP_BYTES: usize = 24;

fn image_path(data: &TempDir) -> PathBuf {
    data.path().join("catalog").join("latest.image")
}

/// Syncs a synthetic catalog into `data`; returns the newest revisions as the trees hold them.
async fn synced(data: &TempDir) -> Vec<UpdateRecord> {
    let upstream = fake_with(&synthetic(31, 120)).await;
    let store = Store::open(data.path()).unwrap();
    run_sync(&store, &config(&upstream.url(), data), &Quiet)
        .await
        .unwrap();
    let records = store.latest_records().unwrap();
    store.flush().unwrap();
    upstream.stop().await;
    records
}

/// Gives one stored update a new revision with another title (the store moves on; an image
/// written before is stale); returns the trees' newest revisions then.
fn revise_one(data: &Path) -> Vec<UpdateRecord> {
    let store = Store::open(data).unwrap();
    let mut newer = store.latest_records().unwrap().pop().unwrap();
    newer.identity.revision += 1;
    newer.title = "revised after the image was written".into();
    store.put_batch(&[(newer, "<Update/>".into())]).unwrap();
    store.flush().unwrap();
    store.latest_records().unwrap()
}

/// Starts `serve` on `data`, waits for `/ready`, and returns the records it serves.
async fn served(data: &TempDir) -> Vec<UpdateRecord> {
    let daemon = Daemon::start(config("http://127.0.0.1:9", data)).await.unwrap();
    let admin = daemon.admin_addr;
    assert!(eventually(|| async { http("GET", admin, "/ready", None).await.0 == 200 }).await);
    let records = daemon.app.snapshot().records.clone();
    daemon.stop().await;
    records
}

#[tokio::test]
async fn serve_starts_from_the_image_a_sync_leaves() {
    let data = tempdir().unwrap();
    let trees = synced(&data).await;
    assert!(image_path(&data).exists(), "the sync wrote an image");
    assert_eq!(served(&data).await, trees);
}

#[tokio::test]
async fn serve_reads_the_store_when_the_image_is_stale_or_missing() {
    let data = tempdir().unwrap();
    synced(&data).await;
    let trees = revise_one(data.path());
    assert_eq!(served(&data).await, trees, "stale image");
    std::fs::remove_file(image_path(&data)).unwrap();
    assert_eq!(served(&data).await, trees, "no image");
}

/// An image of the state before `revise_one`, re-stamped with the state after it (so only its
/// checksum and framing can tell that it is not the store's), then damaged by `damage`.
async fn restamped_old_image(damage: impl Fn(&mut Vec<u8>)) -> (TempDir, Vec<UpdateRecord>) {
    let data = tempdir().unwrap();
    synced(&data).await;
    let old = std::fs::read(image_path(&data)).unwrap();
    let trees = revise_one(data.path());
    let store = Store::open(data.path()).unwrap();
    assert!(store.save_latest_image().unwrap().is_some());
    drop(store);
    let current = std::fs::read(image_path(&data)).unwrap();
    let mut forged = old;
    forged[..STAMP_BYTES].copy_from_slice(&current[..STAMP_BYTES]);
    damage(&mut forged);
    std::fs::write(image_path(&data), forged).unwrap();
    (data, trees)
}

#[tokio::test]
async fn serve_reads_the_store_when_the_image_is_corrupt() {
    // The re-stamped image fails its checksum.
    let (data, trees) = restamped_old_image(|_| {}).await;
    assert_eq!(served(&data).await, trees);
    let (data, trees) = restamped_old_image(|bytes| {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
    })
    .await;
    assert_eq!(served(&data).await, trees);
}

#[tokio::test]
async fn serve_reads_the_store_when_the_image_is_truncated() {
    for keep in [STAMP_BYTES + 1, 4096] {
        let (data, trees) = restamped_old_image(|bytes| bytes.truncate(keep)).await;
        assert_eq!(served(&data).await, trees, "{keep} bytes kept");
    }
}
