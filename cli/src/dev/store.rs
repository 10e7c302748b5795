//! `imgflex dev`'s buckets on disk: a read-only folder of originals (or the samples built into
//! the binary) and a folder of variants, behind the handler's [`Store`] trait, so the dev
//! server runs the Lambda's own request path. Keys never reach outside their folder.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use imgflex_core::{Format, image_extension};
use imgflex_handler::service::VARIANT_CACHE_CONTROL;
use imgflex_handler::store::{Fetched, Object, Store, StoreError};
use serde::Serialize;

use super::samples;

/// Where originals come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Originals {
    /// A folder on disk; never written to.
    Dir(PathBuf),
    /// The sample images built into the binary.
    Samples,
}

/// The two buckets of the deployed stack, as folders. Cheap to clone (the handler's
/// [`Service`](imgflex_handler::Service) keeps one, the server another).
#[derive(Debug, Clone)]
pub struct DevStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    originals: Originals,
    variants: PathBuf,
}

/// One original, for the page's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub key: String,
    pub bytes: u64,
}

/// The page lists at most this many originals: a folder of photos can be huge, and the
/// list is a menu, not an inventory.
pub const LIST_LIMIT: usize = 1000;

impl DevStore {
    pub fn new(originals: Originals, variants: PathBuf) -> DevStore {
        DevStore {
            inner: Arc::new(Inner {
                originals,
                variants,
            }),
        }
    }

    pub fn originals(&self) -> &Originals {
        &self.inner.originals
    }

    /// The image originals (by extension), sorted by key, at most [`LIST_LIMIT`]; the bool
    /// says whether the list was cut.
    pub async fn list_originals(&self) -> Result<(Vec<Listed>, bool), StoreError> {
        match &self.inner.originals {
            Originals::Samples => Ok((
                samples::SAMPLES
                    .iter()
                    .map(|s| Listed {
                        key: s.key.to_string(),
                        bytes: s.bytes.len() as u64,
                    })
                    .collect(),
                false,
            )),
            Originals::Dir(root) => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || list_dir(&root))
                    .await
                    .map_err(|e| StoreError {
                        operation: "list originals",
                        key: String::new(),
                        message: e.to_string(),
                    })?
            }
        }
    }
}

impl Store for DevStore {
    async fn get_original(&self, key: &str, max_bytes: u64) -> Result<Fetched, StoreError> {
        let root = match &self.inner.originals {
            Originals::Samples => {
                return Ok(match samples::find(key) {
                    None => Fetched::Missing,
                    Some(b) if b.len() as u64 > max_bytes => Fetched::TooLarge(b.len() as u64),
                    Some(b) => Fetched::Found(b.to_vec()),
                });
            }
            Originals::Dir(root) => root,
        };
        let Some(path) = confined(root, key) else {
            return Ok(Fetched::Missing);
        };
        let failed = |e: std::io::Error| StoreError {
            operation: "get original",
            key: key.to_string(),
            message: e.to_string(),
        };
        // The size comes first, so a huge file is refused without reading it (as the
        // Lambda does with S3's Content-Length).
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(Fetched::Missing),
            Err(e) if is_missing(&e) => return Ok(Fetched::Missing),
            Err(e) => return Err(failed(e)),
        };
        if meta.len() > max_bytes {
            return Ok(Fetched::TooLarge(meta.len()));
        }
        match tokio::fs::read(&path).await {
            Ok(bytes) if bytes.len() as u64 > max_bytes => {
                Ok(Fetched::TooLarge(bytes.len() as u64))
            }
            Ok(bytes) => Ok(Fetched::Found(bytes)),
            Err(e) if is_missing(&e) => Ok(Fetched::Missing),
            Err(e) => Err(failed(e)),
        }
    }

    async fn get_variant(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let Some(path) = confined(&self.inner.variants, key) else {
            return Ok(None);
        };
        let Some(content_type) = variant_content_type(key) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Object {
                bytes,
                // What the handler stored with it: a variant's type follows from its key's
                // extension and its Cache-Control is always the same, so no sidecar is kept.
                content_type: content_type.to_string(),
                cache_control: VARIANT_CACHE_CONTROL.to_string(),
            })),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(StoreError {
                operation: "get variant",
                key: key.to_string(),
                message: e.to_string(),
            }),
        }
    }

    async fn put_variant(&self, key: &str, object: Object) -> Result<(), StoreError> {
        let failed = |message: String| StoreError {
            operation: "put variant",
            key: key.to_string(),
            message,
        };
        let path = confined(&self.inner.variants, key)
            .ok_or_else(|| failed("not a key this store can hold".into()))?;
        tokio::task::spawn_blocking(move || write_variant(&path, &object.bytes))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))
    }
}

/// `root/key`, or `None` when the key could name anything outside `root`: every `/`-separated
/// segment must be one plain file name (no `..`, `.`, empty segment, root, drive prefix,
/// backslash or NUL), and names starting with `.` are refused too, so a folder's hidden files
/// and this store's own temp files are never served.
pub fn confined(root: &Path, key: &str) -> Option<PathBuf> {
    if key.is_empty() {
        return None;
    }
    let mut path = root.to_path_buf();
    for segment in key.split('/') {
        if segment.is_empty()
            || segment.starts_with('.')
            || segment.contains(['\\', '\0'])
            || segment.chars().any(char::is_control)
        {
            return None;
        }
        // On Unix only `/` separates; this also catches `C:` and friends where they matter.
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if name == segment => path.push(name),
            _ => return None,
        }
    }
    Some(path)
}

/// The content type of a variant, from its key's extension (what the handler stores).
fn variant_content_type(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.')?.1;
    Format::ALL
        .into_iter()
        .find(|f| f.extension() == ext)
        .map(Format::content_type)
}

/// The content type S3 would hold for an original uploaded by extension.
pub fn original_content_type(key: &str) -> &'static str {
    if let Some(media) =
        imgflex_core::image_extension(key).and_then(imgflex_core::image_content_type)
    {
        return media;
    }
    let name = key.rsplit('/').next().unwrap_or(key);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Whether `bytes` begin as the image type `media` promises. A file named `.jpg` that holds
/// HTML or SVG must not reach a browser as an image it might sniff and run: `imgflex upload`
/// refuses such a file, and the dev server, serving a folder as it is, labels it as bytes.
pub fn bytes_match(media: &str, bytes: &[u8]) -> bool {
    match media {
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "image/avif" => bytes.len() >= 12 && &bytes[4..8] == b"ftyp",
        _ => true,
    }
}

fn is_missing(e: &std::io::Error) -> bool {
    // `a.jpg/b.jpg` where `a.jpg` is a file is "not a directory": no such key either.
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// Creates the key's folders, then writes the variant whole (a reader, a crash or a second
/// writer of the same key never sees half of one).
fn write_variant(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::files::write_atomically(path, bytes)
}

/// Walks a folder for image originals, skipping hidden entries and not following symlinked
/// folders (a link back up would loop forever).
fn list_dir(root: &Path) -> Result<(Vec<Listed>, bool), StoreError> {
    let mut found = Vec::new();
    let mut truncated = false;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| StoreError {
            operation: "list originals",
            key: dir.display().to_string(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if image_extension(&key).is_none() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if found.len() == LIST_LIMIT {
                truncated = true;
                break;
            }
            found.push(Listed {
                key,
                bytes: meta.len(),
            });
        }
        if truncated {
            break;
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((found, truncated))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_stay_inside_the_root() {
        let root = Path::new("/srv/originals");
        assert_eq!(
            confined(root, "photos/cat.jpg"),
            Some(PathBuf::from("/srv/originals/photos/cat.jpg"))
        );
        assert_eq!(
            confined(root, "café/ünï.jpg"),
            Some(PathBuf::from("/srv/originals/café/ünï.jpg"))
        );
        for hostile in [
            "",
            "..",
            "../secret.jpg",
            "photos/../../secret.jpg",
            "photos/..",
            "./cat.jpg",
            "/etc/passwd",
            "photos//cat.jpg",
            "photos/",
            "..\\secret.jpg",
            "photos\\..\\..\\secret.jpg",
            "cat\0.jpg",
            "cat\n.jpg",
            ".hidden.jpg",
            "photos/.git/config",
            ".imgflex-a1b2c3.tmp",
        ] {
            assert_eq!(confined(root, hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            variant_content_type("_v/a.png/w1_inside_center_bgffffff_e0.png"),
            Some("image/png")
        );
        assert_eq!(
            variant_content_type("_v/a.png/w1_inside_center_q50_bgffffff_e0.avif"),
            Some("image/avif")
        );
        assert_eq!(variant_content_type("a.png/w1.gif"), None);
        assert_eq!(original_content_type("x/Y.JPEG"), "image/jpeg");
        assert_eq!(
            original_content_type("notes.txt"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            original_content_type("Makefile"),
            "application/octet-stream"
        );
    }

    fn store() -> (tempfile::TempDir, DevStore) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("originals/photos")).unwrap();
        std::fs::write(dir.path().join("originals/photos/cat.jpg"), b"cat").unwrap();
        std::fs::write(dir.path().join("originals/.hidden.jpg"), b"hidden").unwrap();
        std::fs::write(dir.path().join("secret.jpg"), b"secret").unwrap();
        let store = DevStore::new(
            Originals::Dir(dir.path().join("originals")),
            dir.path().join("variants"),
        );
        (dir, store)
    }

    #[tokio::test]
    async fn originals_are_read_refused_by_size_or_missing() {
        let (_dir, store) = store();
        assert_eq!(
            store.get_original("photos/cat.jpg", 100).await.unwrap(),
            Fetched::Found(b"cat".to_vec())
        );
        assert_eq!(
            store.get_original("photos/cat.jpg", 2).await.unwrap(),
            Fetched::TooLarge(3)
        );
        for missing in [
            "photos/dog.jpg",
            "photos",
            "photos/cat.jpg/x.jpg",
            "../secret.jpg",
            ".hidden.jpg",
        ] {
            assert_eq!(
                store.get_original(missing, 100).await.unwrap(),
                Fetched::Missing,
                "{missing}"
            );
        }
    }

    #[tokio::test]
    async fn variants_are_written_whole_and_read_back_with_their_headers() {
        let (dir, store) = store();
        let key = "_v/photos/cat.jpg/w10_inside_center_q75_bgffffff_e0.webp";
        assert_eq!(store.get_variant(key).await.unwrap(), None);
        let object = Object {
            bytes: b"RIFF".to_vec(),
            content_type: "image/webp".into(),
            cache_control: VARIANT_CACHE_CONTROL.into(),
        };
        store.put_variant(key, object.clone()).await.unwrap();
        assert_eq!(store.get_variant(key).await.unwrap(), Some(object));
        // Only the variant itself is left: no temp file beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("variants/_v/photos/cat.jpg"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["w10_inside_center_q75_bgffffff_e0.webp"]);
        // Hostile keys are refused, and nothing is written outside the folder.
        let hostile = Object {
            bytes: b"x".to_vec(),
            content_type: "image/jpeg".into(),
            cache_control: VARIANT_CACHE_CONTROL.into(),
        };
        assert!(
            store
                .put_variant("../escaped.jpg/x.jpg", hostile)
                .await
                .is_err()
        );
        assert!(!dir.path().join("escaped.jpg").exists());
        assert_eq!(store.get_variant("../secret.jpg").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_list_holds_visible_images_only() {
        let (dir, store) = store();
        std::fs::write(dir.path().join("originals/notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("originals/b.png"), b"png").unwrap();
        let (list, truncated) = store.list_originals().await.unwrap();
        assert!(!truncated);
        assert_eq!(
            list,
            [
                Listed {
                    key: "b.png".into(),
                    bytes: 3
                },
                Listed {
                    key: "photos/cat.jpg".into(),
                    bytes: 3
                }
            ]
        );
    }

    #[tokio::test]
    async fn samples_are_originals_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = DevStore::new(Originals::Samples, dir.path().join("variants"));
        let (list, _) = store.list_originals().await.unwrap();
        assert!(list.iter().any(|l| l.key == "rocket.jpg"));
        assert!(matches!(
            store.get_original("rocket.jpg", u64::MAX).await.unwrap(),
            Fetched::Found(b) if b.starts_with(&[0xff, 0xd8])
        ));
        assert_eq!(
            store.get_original("nope.jpg", u64::MAX).await.unwrap(),
            Fetched::Missing
        );
    }
}
