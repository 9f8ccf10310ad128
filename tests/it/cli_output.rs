//! Command output as shells use it: piped into a reader that stops early.

use std::process::{Command, Stdio};
use wucache_testkit::fake_upstream::{real_docs, FakeUpstream};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

/// `wucache updates | head`: the reader is gone before the first line is written; the
/// command ends quietly with success instead of panicking on the broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_into_a_closed_pipe_exits_quietly() {
    let upstream = FakeUpstream::start(real_docs()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wucache.toml");
    let text = format!(
        "[upstream]\nserver = \"{}\"\n[sync]\nproducts = [\"all\"]\nclassifications = [\"all\"]\n\
         languages = []\n[storage]\ndata_dir = \"{}\"\n",
        upstream.url(),
        dir.path().join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let run = |args: &[&str], stdout: Stdio| {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let synced = tokio::task::block_in_place(|| run(&["sync"], Stdio::null()).wait_with_output().unwrap());
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );

    let mut child = run(&["updates", "--all"], Stdio::piped());
    drop(child.stdout.take());
    let output = tokio::task::block_in_place(|| child.wait_with_output().unwrap());

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
