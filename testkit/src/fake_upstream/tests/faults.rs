//! Injected failures: resets, bare HTTP 500s and ServerBusy faults in order until they run
//! out; garbage blobs inside a valid envelope.

use super::*;

#[tokio::test]
async fn injected_failures_come_in_order_and_run_out() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    fake.faults().reset(1);
    assert!(
        try_call(&fake, "GetAuthConfig", "").await.is_err(),
        "connection dropped"
    );
    fake.faults().http_500(1);
    let bare = call(&fake, "GetAuthConfig", "").await;
    assert_eq!(bare.status, 500);
    assert!(bare.content_type.starts_with("text/html"));
    fake.faults().server_busy(1);
    assert_eq!(
        call(&fake, "GetAuthConfig", "").await.fault(),
        ("soap:Server".into(), "ServerBusy".into(), String::new())
    );
    call(&fake, "GetAuthConfig", "").await.result("GetAuthConfig");
    let stats = fake.stats();
    assert_eq!(
        (stats.resets, stats.http_errors, stats.fault_count("ServerBusy")),
        (1, 1, 1)
    );
    assert_eq!(stats.call_count("GetAuthConfig"), 4);
}

#[tokio::test]
async fn garbage_blobs_are_unparseable_inside_a_valid_envelope() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    fake.faults().set_garbage_blob_ids([KB2267602]);
    let result = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(KB2267602, 200)]),
    )
    .await
    .result("GetUpdateData");
    let data = result.find(&["updates", "ServerSyncUpdateData"]).expect("data");
    let blob = data.child("XmlUpdateBlob").expect("plain garbage").text.clone();
    assert!(Element::parse(&blob).is_err());
}
