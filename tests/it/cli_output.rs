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

/// `[log] format = "json"`: every log line `serve` writes is one JSON object a log shipper
/// can read.
#[test]
fn json_log_lines_are_json_objects() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wucache.toml");
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nserver = \"http://127.0.0.1:9\"\nmax_attempts = 1\n[sync]\non_start = false\n\
         [storage]\ndata_dir = \"{}\"\n[log]\nformat = \"json\"\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        let serving = line.contains("wucache serving");
        lines.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    lines.extend(reader.map_while(Result::ok));
    let _ = child.wait();
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let logged: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            logged["level"].is_string() && logged["fields"].is_object(),
            "{line}"
        );
    }
}
