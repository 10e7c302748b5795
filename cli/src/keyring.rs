//! Signing keys as the signer holds them: a key id, its secret, when it was made. The local
//! keyring (a JSON file in the user's config directory) is what `imgflex dev` verifies with
//! and `imgflex sign --local` signs with; a deployed stack keeps the same records in SSM.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use imgflex_core::{MAX_KEY_ID_CHARS, secret_from_bytes};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The environment variable that moves the local keyring (tests, several checkouts).
pub const KEYRING_ENV: &str = "IMGFLEX_KEYRING";

/// One signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub kid: String,
    pub secret: String,
    /// Unix seconds.
    pub created: u64,
}

impl Key {
    /// A new key: 32 bytes from the operating system's CSPRNG, and an id that says its day
    /// (`k20261201-x7q2`), so a URL's `kid` tells how old its key is.
    pub fn generate(now: u64) -> Result<Key, CliError> {
        let mut bytes = [0u8; 32];
        let mut tag = [0u8; 4];
        getrandom::fill(&mut bytes)
            .and_then(|()| getrandom::fill(&mut tag))
            .map_err(|e| CliError::new(format!("cannot read random bytes for a key: {e}")))?;
        const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
        let tag: String = tag
            .iter()
            .map(|b| char::from(BASE32[usize::from(b % 32)]))
            .collect();
        let day = DateTime::from_secs(i64::try_from(now).unwrap_or(i64::MAX))
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default();
        let day: String = day.chars().take(10).filter(|c| *c != '-').collect();
        let kid = format!("k{day}-{tag}");
        debug_assert!(kid.len() <= MAX_KEY_ID_CHARS);
        Ok(Key {
            kid,
            secret: secret_from_bytes(&bytes),
            created: now,
        })
    }

    /// `2026-12-01T17:15:44Z`.
    pub fn created_at(&self) -> String {
        timestamp(self.created)
    }
}

/// Unix seconds as RFC 3339.
pub fn timestamp(secs: u64) -> String {
    DateTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// The current time in unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Keys, oldest first. The newest is the one that signs.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    pub keys: Vec<Key>,
}

impl Keyring {
    /// The key new URLs are signed with: `kid`, or else the newest.
    pub fn signer(&self, kid: Option<&str>) -> Result<&Key, CliError> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid).ok_or_else(|| {
                CliError::new(format!("no signing key `{kid}`"))
                    .hint("`imgflex keys list` shows the keys there are")
            }),
            None => self.keys.iter().max_by_key(|k| k.created).ok_or_else(|| {
                CliError::new("there is no signing key yet")
                    .hint("make one with `imgflex keys rotate` (add --local for `imgflex dev`)")
            }),
        }
    }

    /// The key a deployed stack's URLs are signed with: as `signer`, except that a key made
    /// less than `settle` seconds ago does not sign while an older one exists. A new key
    /// reaches every edge location within seconds of `rotate`, not at once; a URL signed
    /// with it in those seconds could meet an edge that does not hold it yet.
    pub fn settled_signer(
        &self,
        kid: Option<&str>,
        now: u64,
        settle: u64,
    ) -> Result<&Key, CliError> {
        if kid.is_some() {
            return self.signer(kid);
        }
        let settled = self
            .keys
            .iter()
            .filter(|k| k.created.saturating_add(settle) <= now)
            .max_by_key(|k| k.created);
        match settled {
            Some(key) => Ok(key),
            None => self.signer(None),
        }
    }

    pub fn secret(&self, kid: &str) -> Option<String> {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.secret.clone())
    }
}

/// Where the local keyring lives: `$IMGFLEX_KEYRING`, else `imgflex/dev-keys.json` in the
/// user's config directory (`~/.config` on Linux).
pub fn local_path() -> Result<PathBuf, CliError> {
    if let Some(path) = std::env::var_os(KEYRING_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    dirs::config_dir()
        .map(|d| d.join("imgflex").join("dev-keys.json"))
        .ok_or_else(|| {
            CliError::new("cannot find the user's config directory for the local keyring")
                .hint(format!("set {KEYRING_ENV} to a file path"))
        })
}

/// Reads a keyring file; a missing file is an empty keyring.
pub fn load(path: &Path) -> Result<Keyring, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(format!("{} is not a keyring: {e}", path.display())).hint(
                "it is JSON of the form {\"keys\": [{\"kid\", \"secret\", \"created\"}]}; \
                 move it away to start a new one",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keyring::default()),
        Err(e) => Err(CliError::new(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a keyring whole (a temporary file renamed over the old one, readable by the user
/// only): an interrupted write leaves the old keyring, never half of one.
pub fn save(path: &Path, ring: &Keyring) -> Result<(), CliError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| CliError::new(format!("cannot write in {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let json = serde_json::to_vec_pretty(ring)
        .map_err(|e| CliError::new(format!("cannot encode the keyring: {e}")))?;
    std::io::Write::write_all(&mut file, &json)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    file.persist(path)
        .map_err(|e| CliError::new(format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

/// `30s`, `15m`, `1h`, `7d`, `2w`: a duration in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a duration: use a number and s, m, h, d or w (`1h`)")
    })?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "`{text}`: the unit is one of s, m, h, d, w (`1h`, `7d`)"
            ));
        }
    };
    n.checked_mul(scale)
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("`{text}` is not a duration above zero"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_dated_and_fit_a_kid() {
        let a = Key::generate(1_796_145_344).unwrap_or_else(|e| panic!("{e}"));
        let b = Key::generate(1_796_145_344).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 43);
        assert!(a.kid.starts_with("k20261201-"), "{}", a.kid);
        assert!(imgflex_core::sign_url("/a.jpg", &a.kid, &a.secret, None).contains(&a.kid));
        assert_eq!(a.created_at(), "2026-12-01T17:15:44Z");
    }

    #[test]
    fn a_keyring_round_trips_and_the_newest_key_signs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/keys.json");
        assert_eq!(load(&path).ok(), Some(Keyring::default()));
        let ring = Keyring {
            keys: vec![
                Key {
                    kid: "old".into(),
                    secret: "s1".into(),
                    created: 1,
                },
                Key {
                    kid: "new".into(),
                    secret: "s2".into(),
                    created: 2,
                },
            ],
        };
        save(&path, &ring).unwrap_or_else(|e| panic!("{e}"));
        let back = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, ring);
        assert_eq!(back.signer(None).map(|k| k.kid.as_str()).ok(), Some("new"));
        assert_eq!(
            back.signer(Some("old")).map(|k| k.kid.as_str()).ok(),
            Some("old")
        );
        assert!(back.signer(Some("gone")).is_err());
        std::fs::write(&path, "not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(load(&path).is_err());
    }

    #[test]
    fn a_key_fresh_from_rotate_signs_only_once_it_has_settled() {
        let key = |kid: &str, created| Key {
            kid: kid.into(),
            secret: "s".into(),
            created,
        };
        let ring = Keyring {
            keys: vec![key("old", 100), key("new", 1_000)],
        };
        let signs = |now| {
            ring.settled_signer(None, now, 60)
                .map(|k| k.kid.clone())
                .ok()
        };
        assert_eq!(
            signs(1_030).as_deref(),
            Some("old"),
            "30 s after the rotation"
        );
        assert_eq!(signs(1_060).as_deref(), Some("new"), "a minute after");
        // Asked for by name, or the only key: it signs at once.
        assert_eq!(
            ring.settled_signer(Some("new"), 1_001, 60)
                .map(|k| k.kid.as_str())
                .ok(),
            Some("new")
        );
        let single = Keyring {
            keys: vec![key("only", 1_000)],
        };
        assert_eq!(
            single
                .settled_signer(None, 1_001, 60)
                .map(|k| k.kid.as_str())
                .ok(),
            Some("only")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert!(parse_duration("1").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("99999999999999999999w").is_err());
    }
}
