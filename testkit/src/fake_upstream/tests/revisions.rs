//! GetRevisionIdList: anchors select changes, `Delta=false` returns everything, bundle members
//! come with their bundles, a malformed anchor is InvalidParameters.

use super::*;

#[tokio::test]
async fn anchors_select_changes_and_delta_false_returns_everything() {
    let catalog = synth::generate(&SynthOptions {
        seed: 2,
        updates: 40,
        max_file_size: 512,
        ..SynthOptions::default()
    });
    let (first, later) = catalog.docs.split_at(catalog.docs.len() - 5);
    let fake = FakeUpstream::start(first.iter().map(UpstreamDoc::from_synth).collect())
        .await
        .expect("start");
    let cookie = login(&fake).await;
    let (config_anchor, config) = revisions(&fake, &cookie, "<GetConfig>true</GetConfig>").await;
    assert_eq!(
        config.len(),
        catalog.docs.iter().filter(|d| d.kind.is_config()).count()
    );
    let (anchor, all) = revisions(&fake, &cookie, "<GetConfig>false</GetConfig>").await;
    assert_eq!(all.len(), first.iter().filter(|d| !d.kind.is_config()).count());

    fake.publish(later.iter().map(UpstreamDoc::from_synth).collect());
    let since = format!("<GetConfig>false</GetConfig><Anchor>{anchor}</Anchor>");
    let (newer, changed) = revisions(&fake, &cookie, &since).await;
    let published: Vec<(Uuid, u32)> = later.iter().map(|d| (d.update_id, d.revision)).collect();
    assert_eq!(changed, published);
    assert_ne!(newer, anchor);
    let (_, none) = revisions(
        &fake,
        &cookie,
        &format!("<GetConfig>true</GetConfig><Anchor>{config_anchor}</Anchor>"),
    )
    .await;
    assert!(none.is_empty());

    let products: Vec<(Uuid, bool)> = catalog
        .docs
        .iter()
        .filter(|d| d.kind == synth::SynthKind::Product)
        .map(|d| (d.update_id, true))
        .collect();
    let classes: Vec<(Uuid, bool)> = synth::CLASSIFICATIONS.iter().map(|(id, _)| (*id, true)).collect();
    let lists = format!(
        "{}{}",
        id_list("Categories", &products),
        id_list("Classifications", &classes)
    );
    let (_, delta) = revisions(&fake, &cookie, &format!("{since}{lists}")).await;
    assert_eq!(delta, published);
    let everything: Vec<(Uuid, bool)> = classes.iter().map(|(id, _)| (*id, false)).collect();
    let lists = format!(
        "{}{}",
        id_list("Categories", &products),
        id_list("Classifications", &everything)
    );
    let (_, full) = revisions(&fake, &cookie, &format!("{since}{lists}")).await;
    assert_eq!(
        full.len(),
        catalog.docs.iter().filter(|d| !d.kind.is_config()).count()
    );
    let (_, one_list) = revisions(
        &fake,
        &cookie,
        &format!("<GetConfig>false</GetConfig>{}", id_list("Categories", &products)),
    )
    .await;
    assert!(one_list.is_empty());
}

#[tokio::test]
async fn filter_returns_members_of_matching_bundles() {
    let catalog = synth::generate(&SynthOptions {
        seed: 4,
        updates: 60,
        max_file_size: 512,
        ..SynthOptions::default()
    });
    let bundle = catalog
        .docs
        .iter()
        .find(|d| d.kind == synth::SynthKind::Bundle)
        .expect("a bundle");
    let mut docs: Vec<UpstreamDoc> = catalog.docs.iter().map(UpstreamDoc::from_synth).collect();
    for doc in docs.iter_mut().filter(|d| bundle.bundled.contains(&d.update_id)) {
        doc.products.clear();
        doc.classifications.clear();
    }
    let fake = FakeUpstream::start(docs).await.expect("start");
    let cookie = login(&fake).await;
    let filter = format!(
        "{}{}",
        id_list("Categories", &[(bundle.products[0], false)]),
        id_list("Classifications", &[(bundle.classifications[0], false)])
    );
    let (_, listed) = revisions(&fake, &cookie, &filter).await;
    for member in &bundle.bundled {
        assert!(
            listed.contains(&(*member, 200)),
            "member {member} listed with its bundle"
        );
    }
}

#[tokio::test]
async fn malformed_anchor_is_invalid_parameters_filter() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    let answer = call(
        &fake,
        "GetRevisionIdList",
        &filter_inner(&cookie, "<GetConfig>true</GetConfig><Anchor>yesterday</Anchor>"),
    )
    .await;
    assert_eq!(
        answer.fault(),
        ("soap:Client".into(), "InvalidParameters".into(), "filter".into())
    );
}
