//! `imgflex dev`, the real binary on a free loopback port: the edge rewrite, the cache
//! (HIT/MISS), the handler on a miss, single-flight, hostile paths, redirects, the page's
//! endpoints, a port in use and a clean stop.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::support::{imgflex, workspace_root};
use imgflex_handler::pipeline::{Limits, decode_full};

/// A running `imgflex dev`, killed when dropped; its stderr lines are collected.
struct Dev {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Holds the originals and state folders (and whatever a test puts beside them).
    root: tempfile::TempDir,
}

impl Dev {
    /// With the samples copied into `originals/photos/` plus `originals/notes.txt`.
    fn start() -> Dev {
        Dev::start_with(true, &[])
    }

    fn start_with(own_originals: bool, env: &[(&str, &str)]) -> Dev {
        let root = tempfile::tempdir().unwrap();
        let originals = root.path().join("originals");
        std::fs::create_dir_all(originals.join("photos")).unwrap();
        for name in ["rocket.jpg", "seeding.jpg", "sunset.webp", "astronaut.png"] {
            std::fs::copy(sample(name), originals.join("photos").join(name)).unwrap();
        }
        std::fs::write(originals.join("notes.txt"), "plain text\n").unwrap();
        // Port 0: the server binds a port the kernel picks and prints it, so tests starting
        // servers side by side never race for one.
        let mut cmd = imgflex();
        cmd.arg("dev")
            .args(["--port", "0"])
            .arg("--state")
            .arg(root.path().join("state"));
        if own_originals {
            cmd.arg("--originals").arg(&originals);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .current_dir(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let pipe = child.stderr.take().unwrap();
            let lines = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            let announced = stderr.lock().unwrap().iter().find_map(|line| {
                line.strip_prefix("imgflex dev: http://127.0.0.1:")
                    .and_then(|rest| rest.strip_suffix('/'))
                    .and_then(|port| port.parse::<u16>().ok())
            });
            if let Some(port) = announced {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "imgflex dev exited ({status}):\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            assert!(Instant::now() < deadline, "imgflex dev did not listen");
            std::thread::sleep(Duration::from_millis(20));
        };
        Dev {
            child,
            port,
            stderr,
            root,
        }
    }

    fn variants(&self) -> PathBuf {
        self.root.path().join("state/variants")
    }

    fn get(&self, target: &str) -> Response {
        self.request("GET", target, None)
    }

    fn get_accepting(&self, target: &str, accept: &str) -> Response {
        self.request("GET", target, Some(accept))
    }

    fn request(&self, method: &str, target: &str, accept: Option<&str>) -> Response {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        self.request_with(method, target, &headers)
    }

    fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request_with("GET", target, headers)
    }

    fn request_with(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let url = format!("http://127.0.0.1:{}{target}", self.port);
        let mut response = match method {
            "GET" => {
                let mut get = agent.get(&url);
                for (name, value) in headers {
                    get = get.header(*name, *value);
                }
                get.call()
            }
            "HEAD" => agent.head(&url).call(),
            "POST" => agent.post(&url).send_empty(),
            _ => unreachable!(),
        }
        .unwrap();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Response {
            status: response.status().as_u16(),
            headers,
            body: response.body_mut().read_to_vec().unwrap(),
        }
    }

    /// Sends `target` byte for byte (no client normalising `..` or `%2e`) and returns the
    /// status and body.
    fn raw(&self, target: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::from_slice(&self.get("/_imgflex/stats").body).unwrap()
    }

    fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn key(&self) -> &str {
        self.header("x-imgflex-key").unwrap()
    }

    fn cache(&self) -> &str {
        self.header("x-imgflex-cache").unwrap()
    }

    fn dimensions(&self) -> (u32, u32) {
        let image = decode_full(&self.body, &Limits::default()).unwrap();
        (image.width, image.height)
    }
}

fn sample(name: &str) -> PathBuf {
    workspace_root().join("cli/samples").join(name)
}

/// Every file under `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_spelling_of_a_variant_is_one_key_and_the_second_request_is_a_hit() {
    let dev = Dev::start();
    let first = dev.get("/photos/rocket.jpg?w=200&h=100&fm=webp");
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.cache(), "MISS");
    let key = first.key().to_string();
    assert_eq!(
        key,
        "_v/photos/rocket.jpg/w200_h100_cover_center_q75_bgffffff_e0.webp"
    );
    assert_eq!(first.header("content-type"), Some("image/webp"));
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(first.header("vary"), None, "the format was not negotiated");
    let timing = first.header("server-timing").unwrap();
    assert!(
        timing.contains("fetch;dur=") && timing.contains("transform;dur="),
        "{timing}"
    );
    assert_eq!(first.dimensions(), (200, 100));
    assert!(dev.variants().join(&key).is_file());

    for spelling in [
        "/photos/rocket.jpg?w=200&h=100&fm=webp",
        "/photos/rocket.jpg?height=100&width=200&format=webp",
        "/photos/rocket.jpg?FM=WEBP&fit=cover&H=100&w=200&g=center",
        "/photos/rocket.jpg?w=100&h=50&dpr=2&f=webp&q=75",
        "/photos/rocket.jpg/w_200,h_100,c_fill/any-name.webp",
        "/photos/rocket.jpg/h_100,w_200,f_webp/other.jpg",
    ] {
        let again = dev.get(spelling);
        assert_eq!(again.status, 200, "{spelling}");
        assert_eq!(again.key(), key, "{spelling}");
        assert_eq!(again.cache(), "HIT", "{spelling}");
        assert_eq!(again.body, first.body, "{spelling}");
        assert_eq!(again.header("content-type"), Some("image/webp"));
        assert!(
            again
                .header("server-timing")
                .unwrap()
                .starts_with("fetch;dur=")
        );
    }
    let stats = dev.stats();
    assert_eq!(stats["transforms"], 1);
    assert_eq!(stats["misses"], 1);
    assert_eq!(stats["hits"], 6);
    // HEAD: GET's headers, no body.
    let head = dev.request("HEAD", "/photos/rocket.jpg?w=200&h=100&fm=webp", None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    // The request log names each request, its status, cache state and key.
    let log = dev.log();
    assert!(
        log.iter().any(
            |l| l.starts_with("GET /photos/rocket.jpg?w=200&h=100&fm=webp 200 MISS ")
                && l.contains(&key)
        ),
        "{log:#?}"
    );
}

#[test]
fn junk_is_refused_at_the_edge_and_creates_no_variant() {
    let dev = Dev::start();
    for (target, param) in [
        ("/photos/rocket.jpg?w=abc", Some("w")),
        (
            "/photos/rocket.jpg?w=100&utm_source=mail",
            Some("utm_source"),
        ),
        ("/photos/rocket.jpg?w=100&width=200", Some("w")),
        ("/photos/rocket.jpg?w=0", Some("w")),
        ("/photos/rocket.jpg?w=99999", Some("w")),
        ("/photos/rocket.jpg?q=101", Some("q")),
        ("/photos/rocket.jpg?fm=gif", Some("fm")),
        ("/photos/rocket.jpg?dpr=1.25", Some("dpr")),
        ("/photos/rocket.jpg?p=nope", Some("p")),
        ("/notes.txt?w=100", None),
        ("/photos/rocket.jpg/w_100/x.webp?h=2", None),
        ("/photos/rocket.jpg/w_100,zz_1/x.webp", Some("zz")),
    ] {
        let response = dev.get(target);
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.header("cache-control"), Some("public, max-age=60"));
        assert_eq!(response.header("x-imgflex-param"), param, "{target}");
        assert_eq!(response.header("x-imgflex-cache"), None);
        assert!(!response.body.is_empty());
    }
    // A missing original is the handler's 404, and leaves nothing behind either.
    let missing = dev.get("/photos/nope.jpg?w=100");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, b"no such original\n");
    assert_eq!(files(&dev.variants()), Vec::<String>::new());
    let stats = dev.stats();
    assert_eq!(stats["refused"], 12);
    assert_eq!(stats["transforms"], 0);
}

#[test]
fn accept_negotiates_avif_webp_then_jpeg_or_png() {
    let dev = Dev::start();
    let mut keys = Vec::new();
    for (original, accept, content_type, magic) in [
        (
            "photos/rocket.jpg",
            "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
            "image/avif",
            &b"ftypavif"[..],
        ),
        (
            "photos/rocket.jpg",
            "image/webp,*/*",
            "image/webp",
            &b"WEBP"[..],
        ),
        (
            "photos/rocket.jpg",
            "*/*",
            "image/jpeg",
            &b"\xff\xd8\xff"[..],
        ),
        (
            "photos/astronaut.png",
            "image/*",
            "image/png",
            &b"\x89PNG"[..],
        ),
    ] {
        let response = dev.get_accepting(&format!("/{original}?w=64&fm=auto"), accept);
        assert_eq!(response.status, 200, "{accept}");
        assert_eq!(response.header("content-type"), Some(content_type));
        assert_eq!(response.header("vary"), Some("Accept"));
        assert!(
            response
                .body
                .windows(magic.len())
                .take(16)
                .any(|w| w == magic),
            "{content_type} body starts {:?}",
            &response.body[..16]
        );
        assert!(response.key().contains("_auto."), "{}", response.key());
        keys.push(response.key().to_string());
        // The same Accept again is the same cached variant, still saying Vary.
        let again = dev.get_accepting(&format!("/{original}?w=64"), accept);
        assert_eq!(again.cache(), "HIT");
        assert_eq!(again.key(), response.key());
        assert_eq!(again.header("vary"), Some("Accept"));
    }
    keys.dedup();
    assert_eq!(keys.len(), 4, "{keys:?}");
}

#[test]
fn client_hints_size_the_variant_and_the_page_asks_for_them() {
    let dev = Dev::start();
    // The page is a navigation response: its Accept-CH is what makes Chrome send the hints
    // to the images on it.
    let page = dev.get("/");
    assert_eq!(
        page.header("accept-ch"),
        Some("Sec-CH-DPR, Sec-CH-Width, DPR, Width")
    );

    // Sec-CH-Width is in device pixels: 180 rounds up to 200 (no `widths` in the policy).
    let wide = dev.get_with(
        "/photos/rocket.jpg?w=auto&fm=webp",
        &[("sec-ch-width", "180")],
    );
    assert_eq!(wide.status, 200);
    assert!(wide.key().contains("/w200_"), "{}", wide.key());
    assert_eq!(wide.dimensions(), (200, 133));
    // Another width that rounds the same way is the same variant, from the cache.
    let again = dev.get_with("/photos/rocket.jpg?w=auto&fm=webp", &[("width", "101")]);
    assert_eq!((again.key(), again.cache()), (wide.key(), "HIT"));

    // dpr=auto: Chrome's 2.625 rounds up onto the default steps (1, 1.5, 2, 3).
    let dense = dev.get_with(
        "/photos/rocket.jpg?w=64&dpr=auto&fm=webp",
        &[("sec-ch-dpr", "2.625")],
    );
    assert_eq!(dense.dimensions().0, 192);
    // No hint: dpr 1, never a refusal.
    assert_eq!(
        dev.get("/photos/rocket.jpg?w=64&dpr=auto&fm=webp")
            .dimensions()
            .0,
        64
    );

    // A height next to w=auto would size the image twice from one hint: refused at the edge.
    let refused = dev.get_with(
        "/photos/rocket.jpg?w=auto&h=100",
        &[("sec-ch-width", "180")],
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("x-imgflex-param"), Some("h"));
    assert!(refused.header("accept-ch").is_some());
}

#[test]
fn fifty_concurrent_requests_for_one_new_variant_transform_once() {
    let dev = Arc::new(Dev::start());
    // AVIF is the slowest encode, so every request arrives while the first still renders.
    let target = "/photos/seeding.jpg?w=640&fm=avif";
    let barrier = Arc::new(Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let dev = Arc::clone(&dev);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                dev.get(target)
            })
        })
        .collect();
    let responses: Vec<Response> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first = &responses[0];
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("image/avif"));
    for response in &responses {
        assert_eq!(response.status, 200);
        assert_eq!(response.body, first.body);
        assert_eq!(response.key(), first.key());
    }
    let stats = dev.stats();
    assert_eq!(stats["transforms"], 1, "{stats}");
    assert_eq!(
        stats["hits"].as_u64().unwrap() + stats["misses"].as_u64().unwrap(),
        50
    );
    assert!(stats["coalesced"].as_u64().unwrap() > 0, "{stats}");
    let rendered = dev
        .log()
        .iter()
        .filter(|l| l.contains("(transform "))
        .count();
    assert_eq!(rendered, 1, "{:#?}", dev.log());
}

#[test]
fn plain_originals_are_served_as_they_are() {
    let dev = Dev::start();
    let rocket = dev.get("/photos/rocket.jpg");
    assert_eq!(rocket.status, 200);
    assert_eq!(rocket.header("content-type"), Some("image/jpeg"));
    assert_eq!(rocket.key(), "photos/rocket.jpg");
    assert_eq!(rocket.header("x-imgflex-cache"), None);
    assert_eq!(rocket.body, std::fs::read(sample("rocket.jpg")).unwrap());
    let webp = dev.get("/photos/sunset.webp");
    assert_eq!(webp.header("content-type"), Some("image/webp"));
    let notes = dev.get("/notes.txt");
    assert_eq!(notes.status, 200);
    assert_eq!(
        notes.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(notes.body, b"plain text\n");
    let missing = dev.get("/photos/nope.jpg");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, b"no such original\n");
    assert_eq!(dev.get("/photos").status, 404, "a folder is not an object");
    let post = dev.request("POST", "/photos/rocket.jpg", None);
    assert_eq!(post.status, 403);
    assert_eq!(dev.stats()["originals_served"], 3);
    // As the deployed response headers policy: no response is sniffed into another type.
    assert_eq!(rocket.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(notes.header("x-content-type-options"), Some("nosniff"));
    // An HTML page named like a JPEG (a dropped file, a hostile one): served as bytes, with
    // the policy's CSP, never as an image a browser might sniff into a page.
    std::fs::write(
        dev.root.path().join("originals/page.jpg"),
        "<html><script>alert(document.cookie)</script></html>",
    )
    .unwrap();
    let page = dev.get("/page.jpg");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[test]
fn hostile_paths_never_leave_the_folders() {
    let dev = Dev::start();
    std::fs::write(dev.root.path().join("secret.jpg"), "TOP SECRET").unwrap();
    std::fs::write(
        dev.root.path().join("originals/.hidden.jpg"),
        "HIDDEN SECRET",
    )
    .unwrap();
    let before = files(dev.root.path());
    for target in [
        "/../secret.jpg",
        "/photos/../../secret.jpg",
        "/%2e%2e/secret.jpg",
        "/%2E%2E%2Fsecret.jpg",
        "/photos/%2e%2e/%2e%2e/secret.jpg",
        "/..%2fsecret.jpg",
        "/..%5csecret.jpg",
        "/photos/..%5c..%5csecret.jpg",
        "//secret.jpg",
        "/%2Fetc/passwd",
        "/.hidden.jpg",
        "/%2ehidden.jpg",
        "/photos/rocket.jpg%00.txt",
        "/..%2f..%2fsecret.jpg?w=10",
        "/%2e%2e/secret.jpg/w_10/x.jpg",
        "/../state/variants/_v/photos/rocket.jpg/w10_inside_center_q80_bgffffff_e0.jpg",
        "/.hidden.jpg?w=10",
    ] {
        let (status, body) = dev.raw(target);
        assert!(status == 400 || status == 404, "{target}: {status} {body}");
        assert!(!body.contains("SECRET"), "{target}: {body}");
    }
    assert_eq!(files(dev.root.path()), before, "nothing was written");
}

#[test]
fn oversize_outputs_are_stored_then_redirected_to_the_same_url() {
    let dev = Dev::start_with(true, &[("IMGFLEX_MAX_RESPONSE_BYTES", "2000")]);
    let target = "/photos/rocket.jpg?w=300&fm=jpeg";
    let first = dev.get(target);
    assert_eq!(first.status, 302);
    assert_eq!(first.header("location"), Some(target));
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert_eq!(first.cache(), "MISS");
    assert!(first.body.is_empty());
    let retry = dev.get(target);
    assert_eq!(retry.status, 200);
    assert_eq!(retry.cache(), "HIT");
    assert_eq!(retry.dimensions(), (300, 200));
    // Small outputs are answered directly.
    assert_eq!(dev.get("/photos/rocket.jpg?w=8&fm=jpeg").status, 200);
}

#[test]
fn with_no_originals_the_samples_and_the_page_are_served() {
    let dev = Dev::start_with(false, &[]);
    let page = dev.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<title>imgflex dev</title>") && html.contains("srcset"));
    let list: serde_json::Value =
        serde_json::from_slice(&dev.get("/_imgflex/originals").body).unwrap();
    let keys: Vec<&str> = list["originals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["rocket.jpg", "seeding.jpg", "sunset.webp", "astronaut.png"]
    );
    assert_eq!(list["originals"][0]["url"], "/rocket.jpg");
    assert_eq!(list["policy"]["max_width"], 4096);
    let original = dev.get("/rocket.jpg");
    assert_eq!(original.body, std::fs::read(sample("rocket.jpg")).unwrap());
    let variant = dev.get("/sunset.webp?w=120&fm=png");
    assert_eq!(variant.status, 200);
    assert_eq!(variant.dimensions(), (120, 80));
    assert_eq!(dev.get("/_imgflex/nothing").status, 404);
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let state = tempfile::tempdir().unwrap();
    let out = imgflex()
        .args(["dev", "--port", &port, "--state"])
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("error: port `{port}` is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
}

#[test]
fn a_missing_originals_folder_is_an_error() {
    let out = imgflex()
        .args(["dev", "--originals", "/nonexistent/photos", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`/nonexistent/photos` is not a folder"));
}

#[test]
fn ctrl_c_stops_the_server_cleanly() {
    let mut dev = Dev::start();
    assert_eq!(dev.get("/photos/rocket.jpg?w=20").status, 200);
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &dev.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = dev.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    std::thread::sleep(Duration::from_millis(100));
    let log = dev.log();
    assert!(log.iter().any(|l| l == "imgflex dev: stopped"), "{log:#?}");
    assert!(TcpStream::connect(("127.0.0.1", dev.port)).is_err());
}

/// Chromium from Debian (`apt-get install chromium`, which `.ci/setup` does). Missing, it is
/// a failed test that says how to install it, never a silent pass.
fn chromium() -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`chromium` is not installed: run `bash .ci/setup` (or `apt-get install -y chromium`)"
            )
        })
}

#[test]
fn the_page_rerenders_the_variant_at_a_new_width_in_headless_chromium() {
    let dev = Dev::start_with(false, &[]);
    let shots = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("node")
        .arg(workspace_root().join("tests/dev/page_check.mjs"))
        .arg(chromium())
        .arg(format!("http://127.0.0.1:{}/", dev.port))
        .arg("123")
        .arg(shots.path())
        .output()
        .expect("node is needed to drive chromium");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dev.log().join("\n")
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The page opens on rocket.jpg (640x427) at its default w=400.
    assert_eq!(shown["before"]["naturalWidth"], 400, "{shown}");
    assert!(
        shown["before"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/rocket.jpg?w=400"),
        "{shown}"
    );
    assert_eq!(shown["after"]["naturalWidth"], 123, "{shown}");
    assert_eq!(shown["after"]["naturalHeight"], 82, "{shown}");
    let url = shown["after"]["url"].as_str().unwrap();
    assert!(url.starts_with("/rocket.jpg?w=123"), "{url}");
    assert!(
        ["HIT", "MISS"].contains(&shown["after"]["cache"].as_str().unwrap()),
        "{shown}"
    );
    assert!(
        shown["after"]["srcset"].as_str().unwrap().contains(url),
        "{shown}"
    );
    // The original fits its pane, and says at what scale; the comparison shows both at the
    // variant's size; the figures a developer asks for are there.
    let layout = &shown["layout"];
    assert!(
        layout["originalWidth"].as_u64().unwrap() <= layout["originalFrameWidth"].as_u64().unwrap(),
        "{layout}"
    );
    assert!(layout["scale"].as_str().unwrap().ends_with('%'), "{layout}");
    assert!(
        layout["saved"]
            .as_str()
            .unwrap()
            .contains("% of the original"),
        "{layout}"
    );
    assert!(
        layout["cacheControl"].as_str().unwrap().contains("max-age"),
        "{layout}"
    );
    assert!(
        layout["vary"].as_str().unwrap().contains("Accept"),
        "{layout}"
    );
    assert_eq!(
        layout["compare"],
        serde_json::json!([123, 82, 123, 82]),
        "{layout}"
    );
    assert_eq!(layout["messageHidden"], true, "{layout}");
    // A width the policy refuses: the edge's message where the image was, no broken image.
    let refused = &shown["refused"];
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("`w` must be between"),
        "{refused}"
    );
    assert_eq!(refused["broken"], false, "{refused}");
    // Screenshots of both, real PNGs of the window's size.
    for name in ["page.png", "refused.png"] {
        let png = std::fs::read(shots.path().join(name)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!(width >= 1000, "{name}: {width} px wide");
    }
    // The server saw the browser ask for both widths.
    let log = dev.log();
    assert!(
        log.iter().any(|l| l.starts_with("GET /rocket.jpg?w=123")),
        "{log:#?}"
    );
}

#[test]
fn a_plain_get_of_a_variant_uri_first_does_not_spoil_the_variant() {
    // Issue 16: in the first layout, `GET /{original}/{ops}.{ext}` with no query was routed
    // as an original with the variant's own URI, so the originals' 403/404 could be cached
    // and served to the variant's viewers. Both spellings of that URI, asked for first, must
    // leave the variant request after them untouched.
    let dev = Dev::start();
    let ops = "w120_inside_center_q75_bgffffff_e0.webp";
    let (status, _) = dev.raw(&format!("/_v/photos/rocket.jpg/{ops}"));
    assert_eq!(status, 400, "the variants' root is not for viewers");
    let old = dev.get(&format!("/photos/rocket.jpg/{ops}"));
    assert_eq!(
        old.status, 404,
        "an original's name like any other: there is none"
    );
    let variant = dev.get("/photos/rocket.jpg?w=120&fm=webp");
    assert_eq!(
        variant.status,
        200,
        "{}",
        String::from_utf8_lossy(&variant.body)
    );
    assert_eq!(variant.key(), format!("_v/photos/rocket.jpg/{ops}"));
    assert_eq!(variant.header("content-type"), Some("image/webp"));
    assert_eq!(variant.dimensions().0, 120);
    let again = dev.get(&format!("/photos/rocket.jpg/{ops}"));
    assert_eq!(
        again.status, 404,
        "and the variant is not served as that original"
    );
}

#[test]
fn a_connection_that_sends_no_request_is_closed() {
    let dev = Dev::start();
    // One that says nothing, and one that starts a request and stops: both are closed by
    // the server (an end of stream on read), rather than held open for good.
    for first in [&b""[..], b"GET /photos/rocket.jpg HTTP/1.1\r\nHost: x\r\n"] {
        let mut stream = TcpStream::connect(("127.0.0.1", dev.port)).unwrap();
        stream.write_all(first).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut rest = Vec::new();
        let ended = stream.read_to_end(&mut rest);
        assert!(ended.is_ok(), "the server kept the connection: {ended:?}");
    }
    // The server itself goes on.
    assert_eq!(dev.get("/photos/rocket.jpg").status, 200);
}

#[test]
fn a_viewer_hanging_up_mid_render_leaves_the_stats_consistent() {
    let dev = Dev::start();
    let wait_for = |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let started = Instant::now();
        loop {
            let stats = dev.stats();
            if done(&stats) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no {what}: {stats}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    {
        // AVIF is the slowest encode: the viewer hangs up once its render has started.
        let mut stream = TcpStream::connect(("127.0.0.1", dev.port)).unwrap();
        stream
            .write_all(b"GET /photos/seeding.jpg?w=800&fm=avif HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        wait_for("render start", &|s| s["misses"] == 1);
    }
    // The render goes on without its viewer, and its miss is counted with it.
    let started = Instant::now();
    let stats = loop {
        let stats = dev.stats();
        if stats["transforms"] == 1 || started.elapsed() > Duration::from_secs(120) {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(stats["transforms"], 1, "{stats}");
    assert_eq!(stats["misses"], 1, "{stats}");
    assert_eq!(stats["hits"], 0, "{stats}");
    // The next viewer of that variant is a hit.
    assert_eq!(
        dev.get("/photos/seeding.jpg?w=800&fm=avif")
            .header("x-imgflex-cache"),
        Some("HIT")
    );
}

/// The acceptance path of signed URLs, on loopback: `imgflex keys rotate --local`, then
/// `imgflex sign --local`, then the URL through `imgflex dev` under `signing = "required"`;
/// tampered, unsigned, expired and retired-key URLs are 403s that render nothing, which the
/// server's counters prove.
#[test]
fn a_url_signed_with_a_rotated_local_key_is_served_and_a_tampered_one_renders_nothing() {
    let keys = tempfile::tempdir().unwrap();
    let keyring = keys.path().join("keys.json");
    let config = keys.path().join("imgflex.toml");
    std::fs::write(&config, "signing = \"required\"\n").unwrap();
    let env = |cmd: &mut std::process::Command| {
        cmd.env("IMGFLEX_KEYRING", &keyring)
            .env("IMGFLEX_CONFIG", &config);
    };
    let run = |args: &[&str]| {
        let mut cmd = imgflex();
        env(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        (
            out.status.code(),
            text.trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, rotated, _) = run(&["keys", "rotate", "--local", "--output", "json"]);
    assert_eq!(code, Some(0), "{rotated}");
    let rotated: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    let first = rotated["kid"].as_str().unwrap().to_string();
    let (code, signed, err) = run(&["sign", "--local", "/photos/rocket.jpg?w=120&fm=webp"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        signed.starts_with(&format!(
            "/photos/rocket.jpg?w=120&fm=webp&kid={first}&sig="
        )),
        "{signed}"
    );
    let (_, expiring, _) = run(&[
        "sign",
        "--local",
        "/photos/rocket.jpg?w=130&fm=webp",
        "--expires",
        "1h",
    ]);

    let config_path = config.to_str().unwrap().to_string();
    let keyring_path = keyring.to_str().unwrap().to_string();
    let dev = Dev::start_with(
        true,
        &[
            ("IMGFLEX_CONFIG", &config_path),
            ("IMGFLEX_KEYRING", &keyring_path),
        ],
    );
    let ok = dev.get(&signed);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.dimensions().0, 120);
    assert_eq!(dev.get(&expiring).status, 200);
    assert_eq!(dev.stats()["transforms"], 2);

    let tampered = signed.replace("w=120", "w=1200");
    for (target, param) in [
        (tampered.as_str(), "sig"),
        ("/photos/rocket.jpg?w=140&fm=webp", "sig"),
        ("/photos/rocket.jpg", "sig"),
    ] {
        let refused = dev.get(target);
        assert_eq!(refused.status, 403, "{target}");
        assert_eq!(refused.header("x-imgflex-param"), Some(param), "{target}");
        assert_eq!(refused.header("cache-control"), Some("public, max-age=10"));
    }
    let stats = dev.stats();
    assert_eq!(stats["transforms"], 2, "a refused URL rendered: {stats}");
    assert_eq!(stats["refused"], 3);

    // A rotation while the server runs: the new key signs, the old one still verifies;
    // retired, its URLs are refused at once.
    let (code, _, _) = run(&["keys", "rotate", "--local"]);
    assert_eq!(code, Some(0));
    let (_, newer, _) = run(&["sign", "--local", "/photos/rocket.jpg?w=150&fm=webp"]);
    assert!(!newer.contains(&format!("kid={first}&")), "{newer}");
    assert_eq!(dev.get(&newer).status, 200);
    assert_eq!(
        dev.get(&signed).status,
        200,
        "the old key verifies during the rotation"
    );
    let (code, _, err) = run(&["keys", "retire", &first, "--local"]);
    assert_eq!(code, Some(0), "{err}");
    let gone = dev.get(&signed);
    assert_eq!(gone.status, 403);
    assert_eq!(gone.header("x-imgflex-param"), Some("kid"));
    assert_eq!(dev.get(&newer).status, 200);
    assert_eq!(dev.stats()["transforms"], 3);
}

/// `imgflex verify` and `imgflex warm`, run as a user runs them against `imgflex dev`.
fn run_against(dev: &Dev, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = imgflex();
    cmd.args(args)
        .args(["--url", &format!("http://127.0.0.1:{}", dev.port)])
        .current_dir(dev.root.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The contract holds on dev (its `x-cache` is CloudFront's), the JUnit file says so, and
/// the miss rendered exactly one variant, which the hit and the other spelling reused.
#[test]
fn verify_passes_against_dev_and_writes_junit() {
    let dev = Dev::start();
    let junit = dev.root.path().join("verify.xml");
    let (code, stdout, stderr) = run_against(
        &dev,
        &[
            "verify",
            "--output",
            "json",
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // The first image dev lists (notes.txt is not one).
    assert!(
        report["key"].as_str().unwrap().starts_with("photos/"),
        "{report}"
    );
    let expected: Vec<(String, String)> = [
        ("original", "ok"),
        ("miss-then-hit", "ok"),
        ("one-cache-entry", "ok"),
        ("edge-400", "ok"),
        ("auto-format", "ok"),
        ("unsigned-refused", "skip"),
        ("function-url-private", "skip"),
        ("buckets-private", "skip"),
    ]
    .iter()
    .map(|(n, o)| (n.to_string(), o.to_string()))
    .collect();
    assert_eq!(outcomes(&report), expected, "{report}");
    let formats = report["checks"][4]["detail"].as_str().unwrap();
    assert!(
        formats.ends_with(": avif, webp, jpeg") || formats.ends_with(": avif, webp, png"),
        "{formats}"
    );
    let stats = dev.stats();
    // One variant for miss-then-hit (its hit and `width=` rendered nothing), three for
    // auto-format; the unknown parameter reached no handler.
    assert_eq!(stats["transforms"], 4, "{stats}");
    assert_eq!(stats["refused"], 1, "{stats}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"8\" failures=\"0\" skipped=\"3\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 8, "{xml}");
}

/// A server that answers every GET with the same JPEG and none of CloudFront's headers is
/// not a CDN that keeps the contract: verify says which checks fail, and exits 1.
#[test]
fn verify_fails_against_a_server_that_is_not_the_edge() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let jpeg = std::fs::read(sample("rocket.jpg")).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                jpeg.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&jpeg);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("verify.xml");
    let out = imgflex()
        .args([
            "verify",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--key",
            "photos/rocket.jpg",
        ])
        .args(["--output", "json", "--junit", junit.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = outcomes(&report);
    assert_eq!(got[0], ("original".into(), "ok".into()), "{report}");
    assert_eq!(got[1], ("miss-then-hit".into(), "fail".into()), "{report}");
    assert_eq!(
        got[2],
        ("one-cache-entry".into(), "skip".into()),
        "{report}"
    );
    assert_eq!(got[3], ("edge-400".into(), "fail".into()), "{report}");
    // Every `fm=auto` answer was a JPEG, whatever the Accept.
    assert_eq!(got[4], ("auto-format".into(), "fail".into()), "{report}");
    assert!(
        report["checks"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("no `x-cache`"),
        "{report}"
    );
    assert_eq!(report["failed"], 3);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    // As text: the table, each failure's hint, and the count as the error.
    let text = imgflex()
        .args([
            "verify",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--key",
            "photos/rocket.jpg",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("  FAIL  edge-400"), "{stdout}");
    assert!(
        stdout.contains("hint: the viewer-request function should answer 400 itself"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("error: 3 of 8 checks failed"), "{stderr}");
}

/// Under `signing = "required"`, verify signs its requests with the local keyring, as
/// `imgflex sign --local` does, and checks that the unsigned URL is refused.
#[test]
fn verify_signs_with_the_local_keyring_and_sees_unsigned_urls_refused() {
    let keys = tempfile::tempdir().unwrap();
    let keyring = keys.path().join("keys.json");
    let config = keys.path().join("imgflex.toml");
    std::fs::write(&config, "signing = \"required\"\n").unwrap();
    let env = [
        ("IMGFLEX_CONFIG", config.to_str().unwrap()),
        ("IMGFLEX_KEYRING", keyring.to_str().unwrap()),
    ];
    let rotate = imgflex()
        .args(["keys", "rotate", "--local"])
        .envs(env)
        .output()
        .unwrap();
    assert!(rotate.status.success());
    let dev = Dev::start_with(true, &env);
    let (code, stdout, stderr) = run_against(&dev, &["verify", "--output", "json"], &env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["signing"], "required");
    assert_eq!(
        outcomes(&report)[5],
        ("unsigned-refused".into(), "ok".into()),
        "{report}"
    );
    assert_eq!(report["failed"], 0, "{report}");
}

/// warm asks for each width in each format, as browsers ask (`fm=auto` + Accept); the
/// variants land in the variants folder; a second run finds them all cached; a preset the
/// policy lacks is one clear error and no request.
#[test]
fn warm_renders_each_variant_once_and_a_second_run_finds_them_cached() {
    let dev = Dev::start();
    let args = [
        "warm",
        "photos/rocket.jpg",
        "photos/astronaut.png",
        "--widths",
        "120,240",
        "--formats",
        "avif,webp,fallback",
        "--concurrency",
        "3",
        "--output",
        "json",
    ];
    let (code, stdout, stderr) = run_against(&dev, &args, &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["variants"], 12, "{report}");
    assert_eq!(report["warmed"], 12, "{report}");
    assert_eq!(report["already_cached"], 0);
    let results = report["results"].as_array().unwrap();
    let types: Vec<&str> = results
        .iter()
        .map(|r| r["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[..3],
        ["image/avif", "image/webp", "image/jpeg"],
        "{report}"
    );
    assert_eq!(
        types[9..],
        ["image/avif", "image/webp", "image/png"],
        "{report}"
    );
    assert!(results.iter().all(|r| r["bytes"].as_u64().unwrap() > 0));
    let stored = files(&dev.variants());
    assert_eq!(stored.len(), 12, "{stored:?}");
    for r in results {
        assert!(
            stored.contains(&r["key"].as_str().unwrap().to_string()),
            "{} not in {stored:?}",
            r["key"]
        );
    }
    assert_eq!(dev.stats()["transforms"], 12);

    let (code, stdout, _) = run_against(&dev, &args, &[]);
    assert_eq!(code, Some(0));
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["already_cached"], 12, "{again}");
    assert_eq!(again["warmed"], 0);
    assert_eq!(dev.stats()["transforms"], 12);

    let (code, _, stderr) = run_against(&dev, &["warm", "--all", "--preset", "nope"], &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unknown preset `nope`"), "{stderr}");
    assert_eq!(dev.stats()["transforms"], 12);
}
