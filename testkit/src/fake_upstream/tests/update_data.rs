//! GetUpdateData and the files it names: the announced batch limit, one unknown or bad id
//! faulting the whole call, synthetic payloads at their `MUUrl` and content paths.

use super::*;

#[tokio::test]
async fn batch_limit_is_announced_and_enforced() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    fake.faults().set_max_updates_per_request(2);
    let cookie = login(&fake).await;
    let config = call(&fake, "GetConfigData", &cookie)
        .await
        .result("GetConfigData");
    assert_eq!(
        config
            .child("MaxNumberOfUpdatesPerRequest")
            .map(|m| m.text.as_str()),
        Some("2")
    );
    let ids = [(KB2267602, 200), (DELTA_266F, 200), (HIDDEN_CCB7, 200)];
    let answer = call(&fake, "GetUpdateData", &update_ids_inner(&cookie, &ids)).await;
    assert_eq!(
        answer.fault(),
        (
            "soap:Client".into(),
            "InvalidParameters".into(),
            "updateIds".into()
        )
    );
    assert!(answer.content_type.starts_with("text/xml"));
    assert!(answer
        .text()
        .contains(r#"<Method>"http://www.microsoft.com/SoftwareDistribution/GetUpdateData"</Method>"#));
    let stats = fake.stats();
    assert_eq!(stats.max_ids_per_get_update_data, 3);
    assert_eq!(stats.fault_count("InvalidParameters"), 1);
    assert_eq!(stats.documents_returned, 0);
}

#[tokio::test]
async fn unknown_or_bad_ids_fault_the_whole_call() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    let wrong_revision = [(KB2267602, 200), (DELTA_266F, 199)];
    let answer = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &wrong_revision),
    )
    .await;
    assert_eq!(
        answer.fault(),
        ("soap:Server".into(), "InternalServerError".into(), String::new())
    );
    fake.faults().set_bad_ids([HIDDEN_CCB7]);
    let answer = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(HIDDEN_CCB7, 200)]),
    )
    .await;
    assert_eq!(answer.fault().1, "InternalServerError");
    fake.faults().set_bad_ids([]);
    call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(HIDDEN_CCB7, 200)]),
    )
    .await
    .result("GetUpdateData");
}

#[tokio::test]
async fn synthetic_payloads_are_served_at_mu_url_and_content_paths() {
    let fake = FakeUpstream::start(Vec::new()).await.expect("start");
    let catalog = synth::generate(&SynthOptions {
        seed: 9,
        updates: 5,
        content_base_url: fake.url(),
        ..SynthOptions::default()
    });
    fake.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    fake.serve_files(catalog.files());
    let file = catalog.files().next().expect("a file");
    let path = file.mu_url.strip_prefix(&fake.url()).expect("served here");
    let get = |path: String, range: Option<&str>| {
        let mut builder = Request::get(path).header("host", fake.addr.to_string());
        if let Some(range) = range {
            builder = builder.header("range", range);
        }
        builder.body(Full::new(Bytes::new())).expect("request")
    };
    let whole = send(&fake, get(path.to_owned(), None)).await.expect("GET");
    assert_eq!(whole.status, 200);
    let digest: [u8; 20] = Sha1::digest(&whole.body).into();
    assert_eq!(digest, file.sha1);
    let ext = file.name.rsplit_once('.').map_or("", |(_, e)| e);
    let content_path = format!(
        "/Content/{:02X}/{}.{ext}",
        file.sha1[19],
        synth::hex(&file.sha1).to_uppercase()
    );
    let part = send(&fake, get(content_path, Some("bytes=0-9")))
        .await
        .expect("GET range");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[..10.min(whole.body.len())]);
    assert_eq!(
        send(&fake, get("/nothing".into(), None))
            .await
            .expect("GET")
            .status,
        404
    );
}
