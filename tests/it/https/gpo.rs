//! `wucache gpo --url https://…` as a user runs it: the HTTPS URL is both WUServer and
//! WUStatusServer, in the .reg text and in the PowerShell.

#[test]
fn gpo_with_an_https_url_sets_the_https_server_values() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args([
            "gpo",
            "--url",
            "https://wucache.corp.example:8531/",
            "--group",
            "Ring1",
        ])
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let url = "https://wucache.corp.example:8531";
    for expected in [
        format!("\"WUServer\"=\"{url}\""),
        format!("\"WUStatusServer\"=\"{url}\""),
        format!("Set-ItemProperty -Path $wu -Name WUServer -Value '{url}'"),
        format!("Set-ItemProperty -Path $wu -Name WUStatusServer -Value '{url}'"),
        "\"UseWUServer\"=dword:00000001".to_string(),
        "\"TargetGroup\"=\"Ring1\"".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected} missing from\n{text}");
    }
    assert!(!text.contains("http://"), "{text}");
}
