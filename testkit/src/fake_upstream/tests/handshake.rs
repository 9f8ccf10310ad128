//! Authorization and dispatch: cookies checked, invalidated and expired; SOAPAction-less
//! requests dispatched by their body; paths in any case.

use super::*;

#[tokio::test]
async fn cookies_are_checked() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let bogus = call(&fake, "GetConfigData", &cookie_xml("AAAA")).await;
    assert_eq!(
        bogus.fault(),
        ("soap:Client".into(), "InvalidCookie".into(), String::new())
    );
    let no_auth = call(&fake, "GetCookie", &get_cookie_inner("AAAA")).await;
    assert_eq!(no_auth.fault().1, "InvalidAuthorizationCookie");

    let cookie = login(&fake).await;
    fake.faults().invalidate_cookies_after(1);
    call(&fake, "GetConfigData", &cookie)
        .await
        .result("GetConfigData");
    let forgotten = call(&fake, "GetConfigData", &cookie).await;
    assert_eq!(forgotten.fault().1, "InvalidCookie");
    let fresh = login(&fake).await;
    call(&fake, "GetConfigData", &fresh).await.result("GetConfigData");

    fake.faults().set_cookie_lifetime(Duration::ZERO);
    let expired = login(&fake).await;
    assert_eq!(
        call(&fake, "GetConfigData", &expired).await.fault().1,
        "InvalidCookie"
    );
    assert_eq!(fake.stats().fault_count("InvalidCookie"), 3);
}

#[tokio::test]
async fn dispatch_falls_back_to_the_body_and_paths_ignore_case() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let xml = envelope("GetAuthConfig", SYNC_NS, "");
    let request = soap_request(
        &fake,
        "/serversyncwebservice/SERVERSYNCWEBSERVICE.asmx",
        None,
        xml,
    );
    let answer = send(&fake, request).await.expect("answer");
    answer.result("GetAuthConfig");
    let wrong_service = envelope("GetCookie", SYNC_NS, "");
    let request = soap_request(&fake, DSS_PATH, None, wrong_service);
    let answer = send(&fake, request).await.expect("answer");
    assert_eq!(answer.fault().1, "", "ASP.NET-level fault without ErrorCode");
}
