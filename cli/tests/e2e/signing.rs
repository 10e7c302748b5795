//! Signed URLs from the command line: the README's JavaScript and Python signers against the
//! table's signed vectors, `imgflex url` checking a signature (and an expiry at another
//! time), and the local keyring's `keys` and `sign` refusals.

use std::process::Command;

use serde_json::Value;

use crate::support::{fixture, imgflex, python, workspace_root};

fn table() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("url-vectors.json")).unwrap()).unwrap()
}

/// The accepted signed vectors whose URL a signer writes (`kid`, maybe `exp`, then `sig`
/// last): (the unsigned target, kid, exp, the signed URL).
fn signer_vectors(doc: &Value) -> Vec<(String, String, Option<String>, String)> {
    let mut out = Vec::new();
    for v in doc["vectors"].as_array().unwrap() {
        let url = v["url"].as_str().unwrap();
        if v.get("uri").is_none() || v["signing"] != true {
            continue;
        }
        let Some((before, _sig)) = url.rsplit_once("&sig=") else {
            continue;
        };
        let (before, exp) = match before.rsplit_once("&exp=") {
            Some((b, e)) => (b, Some(e.to_string())),
            None => (before, None),
        };
        let Some((target, kid)) = before.rsplit_once("kid=") else {
            continue;
        };
        let target = target.strip_suffix(['&', '?']).unwrap_or(target);
        if doc["signing"]["keys"].get(kid).is_some() {
            out.push((target.to_string(), kid.to_string(), exp, url.to_string()));
        }
    }
    out
}

/// The table's KeyValueStore (`signing.keys`) as a keyring file in `dir`, for `imgflex url
/// --keys`.
pub fn keyring_file(doc: &Value, dir: &std::path::Path) -> std::path::PathBuf {
    let keys = dir.join("keys.json");
    let ring: Vec<Value> = doc["signing"]["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(kid, secret)| serde_json::json!({"kid": kid, "secret": secret, "created": 1}))
        .collect();
    std::fs::write(&keys, serde_json::json!({ "keys": ring }).to_string()).unwrap();
    keys
}

#[test]
fn the_readme_signers_in_javascript_and_python_write_the_tables_signed_urls() {
    let doc = table();
    let vectors = signer_vectors(&doc);
    assert!(vectors.len() >= 8, "{} signer vectors", vectors.len());
    let root = workspace_root();
    for (target, kid, exp, want) in &vectors {
        let secret = doc["signing"]["keys"][kid].as_str().unwrap();
        for mut cmd in [Command::new("node"), Command::new(python())] {
            let script = if cmd.get_program() == "node" {
                "sign.mjs"
            } else {
                "sign.py"
            };
            cmd.arg(root.join("tests/signing").join(script))
                .args([target, kid, secret]);
            if let Some(exp) = exp {
                cmd.arg(exp);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8(out.stdout).unwrap().trim(),
                want,
                "{script} {target}"
            );
        }
        // And imgflex-core's signer, which `imgflex sign` uses.
        let exp = exp.as_ref().map(|e| e.parse().unwrap());
        assert_eq!(&imgflex_core::sign_url(target, kid, secret, exp), want);
    }
}

#[test]
fn imgflex_url_says_whether_a_signature_verifies_and_until_when() {
    let doc = table();
    let dir = tempfile::tempdir().unwrap();
    let keys = keyring_file(&doc, dir.path());
    let config = dir.path().join("imgflex.toml");
    std::fs::write(&config, "signing = \"required\"\n").unwrap();
    let now = doc["signing"]["now"].as_u64().unwrap();
    let signed = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["note"] == "signed: with an expiry to come")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let url = |target: &str, at: u64| {
        let out = imgflex()
            .args(["--output", "json", "url", target, "--config"])
            .arg(&config)
            .arg("--keys")
            .arg(&keys)
            .args(["--at", &at.to_string()])
            .output()
            .unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        )
    };
    let (code, ok) = url(&signed, now);
    assert_eq!(code, Some(0), "{ok}");
    assert_eq!(
        ok["uri"],
        "/_v/photos/cat.jpg/w400_inside_center_q75_bgffffff_e0.webp"
    );
    // An hour and a second later it has expired: the edge's 403, and what to do.
    let (code, late) = url(&signed, now + 3601);
    assert_eq!(code, Some(1));
    assert_eq!(late["status"], 403);
    assert_eq!(late["param"], "exp");
    let (code, tampered) = url(&signed.replace("w=400", "w=401"), now);
    assert_eq!((code, &tampered["param"]), (Some(1), &Value::from("sig")));
    // No keyring given: the local one, here empty, so the key is unknown.
    let out = imgflex()
        .env("IMGFLEX_KEYRING", dir.path().join("none.json"))
        .args(["url", &signed, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown signing key") && err.contains("403"),
        "{err}"
    );
}

#[test]
fn the_local_keyring_refuses_what_would_break_it() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = dir.path().join("keys.json");
    let run = |args: &[&str]| {
        let out = imgflex()
            .env("IMGFLEX_KEYRING", &keyring)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, _, err) = run(&["sign", "--local", "/a.jpg?w=1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no signing key yet") && err.contains("imgflex keys rotate"),
        "{err}"
    );
    let (code, list, _) = run(&["keys", "list", "--local"]);
    assert_eq!(code, Some(0));
    assert!(list.contains("no signing keys"), "{list}");

    let (code, out, _) = run(&["keys", "rotate", "--local", "--output", "json"]);
    assert_eq!(code, Some(0));
    let kid = serde_json::from_str::<Value>(&out).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, err) = run(&["keys", "retire", &kid, "--local"]);
    assert_eq!(code, Some(1), "the last key is not retired without --force");
    assert!(
        err.contains("last signing key") && err.contains("--force"),
        "{err}"
    );
    let (code, _, err) = run(&["keys", "retire", "nope", "--local"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no signing key `nope`"), "{err}");

    let (code, _, err) = run(&["sign", "--local", "/a.jpg?w=1&sig=x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("already has `sig`"), "{err}");
    for spelt in ["/a.jpg?w=1&&fm=webp", "/a.jpg?", "/a.jpg?w"] {
        let (code, _, err) = run(&["sign", "--local", spelt]);
        assert_eq!(code, Some(1), "{spelt}");
        assert!(err.contains("name=value"), "{err}");
    }
    let (code, _, err) = run(&["sign", "--local", "/a.jpg?w=abc"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("would refuse") && err.contains("`w`"), "{err}");
    let (code, _, err) = run(&["sign", "--local", "/a.jpg?w=1", "--expires", "soon"]);
    assert_eq!(code, Some(2), "a bad duration is a usage error");
    assert!(err.contains("not a duration"), "{err}");
    let (code, signed, _) = run(&[
        "sign",
        "--local",
        "https://cdn.example.com/a.jpg/w_100/a.webp",
        "--expires",
        "1h",
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(0));
    let signed: Value = serde_json::from_str(&signed).unwrap();
    assert!(
        signed["url"].as_str().unwrap().starts_with(&format!(
            "https://cdn.example.com/a.jpg/w_100/a.webp?kid={kid}&exp="
        )),
        "{signed}"
    );
    assert!(signed["expires_at"].as_str().unwrap().ends_with('Z'));

    let (code, _, _) = run(&["keys", "retire", &kid, "--local", "--force"]);
    assert_eq!(code, Some(0));
    let ring: Value = serde_json::from_slice(&std::fs::read(&keyring).unwrap()).unwrap();
    assert_eq!(ring["keys"], serde_json::json!([]));
}
