//! The directory handle end to end: verified writes, resumes, reconciliation at open,
//! usage and listing.

use super::*;
use crate::content::layout::partial_name;
use crate::content::PayloadMeta;
use crate::model::upper_hex;
use sha1::Digest;
use sha2::Sha256;
use std::collections::HashMap;

/// Deterministic bytes that are not all alike.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// What the catalog would say about `bytes`; name and URL are hostile on purpose: the
/// path must come from the digest alone.
fn meta_for(bytes: &[u8]) -> PayloadMeta {
    PayloadMeta {
        sha1: sha1::Sha1::digest(bytes).into(),
        sha256: Some(Sha256::digest(bytes).into()),
        size: bytes.len() as u64,
        name: "../../evil.cab".to_string(),
        url: "http://upstream/../../etc/passwd?x=/".to_string(),
    }
}

/// A `known_size` that knows exactly `metas`.
fn catalog(metas: &[&PayloadMeta]) -> impl Fn(&Sha1) -> Option<u64> {
    let sizes: HashMap<Sha1, u64> = metas.iter().map(|m| (m.sha1, m.size)).collect();
    move |sha1| sizes.get(sha1).copied()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn write_in_chunks(partial: &mut Partial, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk) {
        partial.write(piece).await.unwrap();
    }
}

#[tokio::test]
async fn commit_in_many_chunks_lands_at_shard_path_and_leaves_tmp_empty() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(100_000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    assert_eq!(partial.offset(), 0);
    write_in_chunks(&mut partial, &bytes, 777).await;
    assert_eq!(partial.offset(), bytes.len() as u64);
    let path = partial.commit().await.unwrap();

    let hex = upper_hex(&meta.sha1);
    assert_eq!(path, root.path().join(&hex[38..]).join(&hex));
    assert_eq!(path, dir.path(&meta.sha1));
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
    assert_eq!(dir.committed_size(&meta.sha1), Some(bytes.len() as u64));
}

#[tokio::test]
async fn commit_without_sha256_checks_sha1_and_size() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(5000);
    let meta = PayloadMeta {
        sha256: None,
        ..meta_for(&bytes)
    };
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes).await.unwrap();
    partial.commit().await.unwrap();
    assert_eq!(dir.committed_size(&meta.sha1), Some(5000));
}

#[tokio::test]
async fn flipped_byte_is_a_digest_mismatch_naming_both_digests() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(10_000);
    let meta = meta_for(&bytes);
    let mut corrupt = bytes.clone();
    corrupt[4321] ^= 0x01;
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    write_in_chunks(&mut partial, &corrupt, 1000).await;
    let error = partial.commit().await.unwrap_err();

    let DiskError::DigestMismatch {
        sha1_expected,
        sha1_actual,
        sha256_expected,
        sha256_actual,
    } = &error
    else {
        panic!("expected a digest mismatch, got {error:?}");
    };
    assert_eq!(*sha1_expected, upper_hex(&meta.sha1));
    assert_eq!(*sha1_actual, upper_hex(&sha1::Sha1::digest(&corrupt)));
    assert_eq!(*sha256_expected, meta.sha256.map(|d| upper_hex(&d)));
    assert_eq!(*sha256_actual, upper_hex(&Sha256::digest(&corrupt)));
    assert!(error.is_bad_payload());
    let message = error.to_string();
    assert!(message.contains(sha1_expected) && message.contains(sha1_actual));
    assert_eq!(dir.committed_size(&meta.sha1), None);
    assert!(!dir.path(&meta.sha1).exists());
    assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
    assert_eq!(dir.usage(), (0, 0));
}

#[tokio::test]
async fn wrong_sha256_with_right_sha1_is_a_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(3000);
    let mut meta = meta_for(&bytes);
    meta.sha256 = Some([7; 32]);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes).await.unwrap();
    let error = partial.commit().await.unwrap_err();
    assert!(
        matches!(&error, DiskError::DigestMismatch { sha1_expected, sha1_actual, .. }
            if sha1_expected == sha1_actual),
        "{error:?}"
    );
    assert!(error.to_string().contains(&upper_hex(&[7; 32])));
    assert_eq!(dir.committed_size(&meta.sha1), None);
    assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
}

#[tokio::test]
async fn short_commit_is_a_size_mismatch_and_deletes_the_partial() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(3000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes[..2999]).await.unwrap();
    let error = partial.commit().await.unwrap_err();
    assert!(
        matches!(
            error,
            DiskError::SizeMismatch {
                expected: 3000,
                actual: 2999,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(dir.committed_size(&meta.sha1), None);
    assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
}

#[tokio::test]
async fn writing_past_the_size_is_refused_without_touching_the_partial() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(3000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes[..2000]).await.unwrap();
    let error = partial.write(&payload(1001)).await.unwrap_err();
    assert!(
        matches!(
            error,
            DiskError::Overrun {
                expected: 3000,
                would_be: 3001,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(partial.offset(), 2000);
    partial.write(&bytes[2000..]).await.unwrap();
    assert!(partial.write(b"x").await.is_err());
    partial.commit().await.unwrap();
    assert_eq!(fs::read(dir.path(&meta.sha1)).unwrap(), bytes);
}

#[tokio::test]
async fn dropping_an_unfinished_handle_deletes_the_partial() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(3000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes[..1000]).await.unwrap();
    let tmp = root.path().join(TMP_DIR);
    assert_eq!(names_in(&tmp), [partial_name(&meta.sha1)]);
    drop(partial);
    assert!(names_in(&tmp).is_empty());
    assert_eq!(dir.committed_size(&meta.sha1), None);
}

#[tokio::test]
async fn one_writer_per_digest_until_the_handle_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(300);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let first = dir.begin(&meta).await.unwrap();
    let error = dir.begin(&meta).await.unwrap_err();
    assert!(matches!(error, DiskError::Busy { .. }), "{error:?}");
    assert!(!error.is_bad_payload());
    drop(first);
    let mut second = dir.begin(&meta).await.unwrap();
    second.write(&bytes).await.unwrap();
    second.commit().await.unwrap();
    assert_eq!(dir.committed_size(&meta.sha1), Some(300));
}

#[tokio::test]
async fn kept_partial_survives_reopen_and_resumes_at_its_offset() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(50_000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    write_in_chunks(&mut partial, &bytes[..20_000], 4096).await;
    partial.keep_for_resume();
    drop(dir);

    let (dir, report) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    assert_eq!(report.partials, [(meta.sha1, 20_000)]);
    assert!(report.removed.is_empty());
    let mut partial = dir.begin(&meta).await.unwrap();
    assert_eq!(partial.offset(), 20_000);
    write_in_chunks(&mut partial, &bytes[20_000..], 4096).await;
    let path = partial.commit().await.unwrap();
    assert_eq!(fs::read(path).unwrap(), bytes);
    assert_eq!(dir.usage(), (1, 50_000));
}

#[tokio::test]
async fn resume_hashes_the_kept_bytes_so_a_damaged_prefix_fails_the_commit() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(50_000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    partial.write(&bytes[..20_000]).await.unwrap();
    partial.keep_for_resume();
    let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
    let mut on_disk = fs::read(&tmp_file).unwrap();
    on_disk[10] ^= 0xff;
    fs::write(&tmp_file, on_disk).unwrap();

    let mut partial = dir.begin(&meta).await.unwrap();
    assert_eq!(partial.offset(), 20_000);
    partial.write(&bytes[20_000..]).await.unwrap();
    let error = partial.commit().await.unwrap_err();
    assert!(matches!(error, DiskError::DigestMismatch { .. }), "{error:?}");
    assert!(!tmp_file.exists());
    assert_eq!(dir.committed_size(&meta.sha1), None);
}

#[tokio::test]
async fn partial_longer_than_the_payload_starts_over() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(1000);
    let meta = meta_for(&bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
    fs::write(&tmp_file, payload(1500)).unwrap();
    let mut partial = dir.begin(&meta).await.unwrap();
    assert_eq!(partial.offset(), 0);
    partial.write(&bytes).await.unwrap();
    partial.commit().await.unwrap();
    assert_eq!(fs::read(dir.path(&meta.sha1)).unwrap(), bytes);
}

#[tokio::test]
async fn crash_mid_write_leaves_a_partial_that_reopen_reconciles() {
    let root = tempfile::tempdir().unwrap();
    let wanted_bytes = payload(8000);
    let wanted = meta_for(&wanted_bytes);
    let dropped_bytes = payload(9000);
    let dropped = meta_for(&dropped_bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&wanted, &dropped])).unwrap();
    for (meta, bytes) in [(&wanted, &wanted_bytes), (&dropped, &dropped_bytes)] {
        let mut partial = dir.begin(meta).await.unwrap();
        partial.write(&bytes[..4000]).await.unwrap();
        std::mem::forget(partial);
    }
    drop(dir);

    // After the "restart" the catalog no longer lists `dropped`.
    let (dir, report) = ContentDir::open(root.path(), catalog(&[&wanted])).unwrap();
    assert_eq!(report.partials, [(wanted.sha1, 4000)]);
    let dropped_tmp = root.path().join(TMP_DIR).join(partial_name(&dropped.sha1));
    assert_eq!(report.removed, [dropped_tmp]);
    assert_eq!(names_in(&root.path().join(TMP_DIR)), [partial_name(&wanted.sha1)]);
    let mut partial = dir.begin(&wanted).await.unwrap();
    assert_eq!(partial.offset(), 4000);
    partial.write(&wanted_bytes[4000..]).await.unwrap();
    partial.commit().await.unwrap();
    assert_eq!(dir.usage(), (1, 8000));
}

#[tokio::test]
async fn reconcile_removes_junk_and_reports_it() {
    let root = tempfile::tempdir().unwrap();
    let good_bytes = payload(700);
    let good = meta_for(&good_bytes);
    let resized_bytes = payload(800);
    let resized = meta_for(&resized_bytes);
    let unknown_bytes = payload(900);
    let unknown = meta_for(&unknown_bytes);
    {
        let known = catalog(&[&good, &resized, &unknown]);
        let (dir, _) = ContentDir::open(root.path(), known).unwrap();
        for (meta, bytes) in [
            (&good, &good_bytes),
            (&resized, &resized_bytes),
            (&unknown, &unknown_bytes),
        ] {
            let mut partial = dir.begin(meta).await.unwrap();
            partial.write(bytes).await.unwrap();
            partial.commit().await.unwrap();
        }
    }
    let r = root.path();
    let good_path = r.join(relative_path(&good.sha1));
    let shard = good_path.parent().unwrap().to_path_buf();
    let hex = upper_hex(&good.sha1);
    let other_shard = if hex.ends_with("00") { "01" } else { "00" };
    fs::create_dir_all(r.join(other_shard)).unwrap();
    let junk = [
        shard.join(hex.to_lowercase()),
        shard.join(format!("{hex}.cab")),
        shard.join(&hex[1..]),
        shard.join("notes.txt"),
        r.join(other_shard).join(&hex),
        r.join(TMP_DIR).join("stray"),
        r.join(TMP_DIR).join(partial_name(&unknown.sha1)),
        r.join(TMP_DIR).join(format!("{}.partial", hex.to_lowercase())),
    ];
    for path in &junk {
        fs::write(path, &good_bytes).unwrap();
    }
    let junk_dir = shard.join("subdir");
    fs::create_dir_all(junk_dir.join("deeper")).unwrap();
    let resumable = r.join(TMP_DIR).join(partial_name(&resized.sha1));
    fs::write(&resumable, payload(801)).unwrap();
    let foreign = r.join("README");
    fs::write(&foreign, b"not ours").unwrap();

    let mut resized_now = resized.clone();
    resized_now.size = 801;
    let (dir, report) = ContentDir::open(r, catalog(&[&good, &resized_now])).unwrap();

    let mut expected_removed: Vec<PathBuf> = junk.to_vec();
    expected_removed.extend([
        junk_dir,
        r.join(relative_path(&resized.sha1)),
        r.join(relative_path(&unknown.sha1)),
    ]);
    expected_removed.sort();
    assert_eq!(report.removed, expected_removed);
    assert!(expected_removed.iter().all(|path| !path.exists()));
    assert_eq!(report.partials, [(resized.sha1, 801)], "801 <= 801 is resumable");
    assert_eq!(report.ignored, [r.join("README")]);
    assert!(foreign.exists());
    assert_eq!((report.files, report.bytes), (1, 700));
    assert_eq!(dir.usage(), (1, 700));
    assert_eq!(fs::read(&good_path).unwrap(), good_bytes);
    let listed: Vec<(Sha1, u64)> = dir.list().unwrap().into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(listed, [(good.sha1, 700)]);
}

#[tokio::test]
async fn partial_longer_than_the_known_size_is_removed_at_open() {
    let root = tempfile::tempdir().unwrap();
    let bytes = payload(100);
    let meta = meta_for(&bytes);
    fs::create_dir_all(root.path().join(TMP_DIR)).unwrap();
    let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
    fs::write(&tmp_file, payload(101)).unwrap();
    let (_, report) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
    assert_eq!(report.removed, [tmp_file]);
    assert!(report.partials.is_empty());
}

#[tokio::test]
async fn usage_follows_commits_replacements_and_removals() {
    let root = tempfile::tempdir().unwrap();
    let a_bytes = payload(1000);
    let a = meta_for(&a_bytes);
    let b_bytes = payload(2500);
    let b = meta_for(&b_bytes);
    let (dir, _) = ContentDir::open(root.path(), catalog(&[&a, &b])).unwrap();
    assert_eq!(dir.usage(), (0, 0));
    for (meta, bytes) in [(&a, &a_bytes), (&b, &b_bytes), (&a, &a_bytes)] {
        let mut partial = dir.begin(meta).await.unwrap();
        partial.write(bytes).await.unwrap();
        partial.commit().await.unwrap();
    }
    assert_eq!(dir.usage(), (2, 3500), "recommitting a digest counts it once");
    let clone = dir.clone();
    assert!(clone.remove(&a.sha1).unwrap());
    assert!(!dir.remove(&a.sha1).unwrap());
    assert_eq!(dir.usage(), (1, 2500));
    assert_eq!(dir.committed_size(&a.sha1), None);
    let (_, report) = ContentDir::open(root.path(), catalog(&[&a, &b])).unwrap();
    assert_eq!((report.files, report.bytes), (1, 2500));
}

#[tokio::test]
async fn list_reports_committed_digests_with_size_and_time() {
    let root = tempfile::tempdir().unwrap();
    let before = SystemTime::now() - std::time::Duration::from_secs(5);
    let metas: Vec<(PayloadMeta, Vec<u8>)> = [10, 2000, 30_000]
        .into_iter()
        .map(|len| (meta_for(&payload(len)), payload(len)))
        .collect();
    let refs: Vec<&PayloadMeta> = metas.iter().map(|(meta, _)| meta).collect();
    let (dir, _) = ContentDir::open(root.path(), catalog(&refs)).unwrap();
    for (meta, bytes) in &metas {
        let mut partial = dir.begin(meta).await.unwrap();
        partial.write(bytes).await.unwrap();
        partial.commit().await.unwrap();
    }
    let listed = dir.list().unwrap();
    let mut expected: Vec<(Sha1, u64)> = metas.iter().map(|(m, _)| (m.sha1, m.size)).collect();
    expected.sort();
    let got: Vec<(Sha1, u64)> = listed.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(got, expected);
    assert!(listed.iter().all(|entry| entry.2 >= before));
}
