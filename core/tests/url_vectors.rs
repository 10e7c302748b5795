//! The shared URL vector table (`tests/fixtures/url-vectors.json`) through `imgflex-core`.
//! The same table runs through the `imgflex` binary and the generated edge function, so the
//! three cannot drift apart.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use imgflex_core::{Policy, Route, Viewer, parse_canonical, route_signed};
use serde_json::Value;

const TABLE: &str = include_str!("../../tests/fixtures/url-vectors.json");

#[test]
fn every_vector_routes_as_the_table_says() {
    let doc: Value = serde_json::from_str(TABLE).unwrap();
    let policies: BTreeMap<String, Policy> = doc["policies"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, text)| {
            (
                name.clone(),
                Policy::from_toml_str(text.as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    // The signed vectors' clock and KeyValueStore; every vector runs with them (under a
    // policy with signing off they change nothing).
    let now = doc["signing"]["now"].as_u64().unwrap();
    let keys: BTreeMap<String, String> =
        serde_json::from_value(doc["signing"]["keys"].clone()).unwrap();
    let secret = |kid: &str| keys.get(kid).cloned();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 60, "the table keeps at least 60 cases");

    let mut failures = Vec::new();
    for v in vectors {
        let url = v["url"].as_str().unwrap();
        let policy = &policies[v["policy"].as_str().unwrap()];
        let hint = |name: &str| v["hints"][name].as_str();
        let viewer = Viewer {
            accept: v["accept"].as_str(),
            ..Viewer::from_headers(hint)
        };
        let got = route_signed(url, viewer, policy, now, &secret);
        let verdict = match (&got, v.get("uri")) {
            (Ok(route), Some(want)) => {
                let uri = route.uri();
                let kind = if matches!(route, Route::Variant(_)) {
                    "variant"
                } else {
                    "original"
                };
                if v["route"] != kind {
                    failures.push(format!(
                        "{url}: routed as {kind}, the table says {}",
                        v["route"]
                    ));
                }
                // A variant the edge writes must be one the handler accepts.
                if let Route::Variant(variant) = route {
                    let back = parse_canonical(&variant.key());
                    if back.as_ref() != Ok(variant) {
                        failures.push(format!("{url}: key does not round-trip: {back:?}"));
                    }
                    if !policy.admits(&variant.original, &variant.spec) {
                        failures.push(format!("{url}: policy does not admit its own variant"));
                    }
                }
                (uri == want.as_str().unwrap())
                    .then_some(())
                    .ok_or(format!("uri {uri}, want {want}"))
            }
            (Err(e), None) => {
                let want_status = v["status"].as_u64().unwrap();
                let want_param = v["param"].as_str();
                (u64::from(e.status()) == want_status && e.header_param() == want_param)
                    .then_some(())
                    .ok_or(format!(
                        "{} {:?} ({e}), want {want_status} {want_param:?}",
                        e.status(),
                        e.header_param()
                    ))
            }
            (Ok(route), None) => Err(format!("accepted as {}, want a refusal", route.uri())),
            (Err(e), Some(want)) => Err(format!("refused ({e}), want {want}")),
        };
        if let Err(why) = verdict {
            failures.push(format!("{url} [{}] ({}): {why}", v["policy"], v["note"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
