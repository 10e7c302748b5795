//! The shared URL vector table through the real `imgflex url` binary: what a user sees on
//! the command line is what the core (and the edge) decide.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::support::{fixture, imgflex};
use serde_json::Value;

#[test]
fn the_binary_agrees_with_every_vector() {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("url-vectors.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policies: BTreeMap<&str, std::path::PathBuf> = doc["policies"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&path, text.as_str().unwrap()).unwrap();
            (name.as_str(), path)
        })
        .collect();

    // The signed vectors' KeyValueStore as a keyring file, and their clock.
    let keys = crate::signing::keyring_file(&doc, dir.path());
    let now = doc["signing"]["now"].as_u64().unwrap().to_string();

    let mut failures = Vec::new();
    for v in doc["vectors"].as_array().unwrap() {
        let url = v["url"].as_str().unwrap();
        let mut cmd = imgflex();
        cmd.args(["--output", "json", "url", url, "--config"])
            .arg(&policies[v["policy"].as_str().unwrap()])
            .arg("--keys")
            .arg(&keys)
            .args(["--at", &now]);
        if let Some(accept) = v["accept"].as_str() {
            cmd.args(["--accept", accept]);
        }
        for (name, value) in v["hints"].as_object().into_iter().flatten() {
            cmd.arg("--hint")
                .arg(format!("{name}: {}", value.as_str().unwrap()));
        }
        let out = cmd.output().unwrap();
        let json: Value = match serde_json::from_slice(&out.stdout) {
            Ok(json) => json,
            Err(e) => {
                failures.push(format!(
                    "{url}: stdout is not JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
        };
        let ok = match v.get("uri") {
            Some(want) => out.status.code() == Some(0) && json["uri"] == *want,
            None => {
                out.status.code() == Some(1)
                    && json["status"] == v["status"]
                    && json["param"] == v["param"]
            }
        };
        if !ok {
            failures.push(format!("{url}: exit {:?}, {json}", out.status.code()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
