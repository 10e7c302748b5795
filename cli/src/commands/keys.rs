//! `imgflex keys`: the signing keys, listed, rotated and retired, on the deployed stack
//! (`crate::edge_keys`: SSM and the KeyValueStore) or in the local keyring (`--local`).

use std::fmt;

use serde::Serialize;

use crate::aws::{Aws, runtime};
use crate::cli::{GlobalArgs, KeysAction, KeysArgs};
use crate::edge_keys::{EdgeStore, SecretStore, edge_store};
use crate::error::CliError;
use crate::keyring::{self, Key, Keyring};
use crate::output::Output;

/// One key as `list` shows it: never its secret.
#[derive(Debug, Serialize)]
struct Listed {
    kid: String,
    created: String,
    /// The key new URLs are signed with.
    signs: bool,
    /// Whether the edge verifies it (always, locally).
    at_edge: bool,
}

#[derive(Debug, Serialize)]
struct Listing {
    place: String,
    keys: Vec<Listed>,
    /// In the KeyValueStore with no secret in SSM (a rotation that stopped halfway).
    edge_only: Vec<String>,
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys.is_empty() {
            write!(f, "no signing keys in {}: `imgflex keys rotate", self.place)?;
            return write!(
                f,
                "{}` makes the first",
                if self.place.contains("local") {
                    " --local"
                } else {
                    ""
                }
            );
        }
        writeln!(f, "signing keys in {}:", self.place)?;
        for k in &self.keys {
            let mut notes = Vec::new();
            if k.signs {
                notes.push("signs new URLs");
            }
            if !k.at_edge {
                notes.push("NOT at the edge: URLs signed with it are refused");
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            };
            writeln!(f, "  {}  made {}{notes}", k.kid, k.created)?;
        }
        for kid in &self.edge_only {
            writeln!(
                f,
                "  {kid}  at the edge only (no secret in SSM): `imgflex keys retire {kid}`"
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Changed {
    action: &'static str,
    kid: String,
    place: String,
    remaining: Vec<String>,
}

impl fmt::Display for Changed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            "rotated" => {
                write!(
                    f,
                    "new signing key {} in {}: it signs from now on",
                    self.kid, self.place
                )?;
                let older: Vec<&String> =
                    self.remaining.iter().filter(|k| **k != self.kid).collect();
                if !older.is_empty() {
                    let list: Vec<&str> = older.iter().map(|k| k.as_str()).collect();
                    write!(
                        f,
                        "\nolder keys still verify: {}; retire each with `imgflex keys retire KID` once no page uses its URLs",
                        list.join(", ")
                    )?;
                }
                Ok(())
            }
            _ => write!(
                f,
                "retired {} from {}: URLs signed with it are refused from now on",
                self.kid, self.place
            ),
        }
    }
}

pub fn run(args: KeysArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    if args.local {
        return local(args, out);
    }
    runtime()?.block_on(async {
        let aws = Aws::connect(global).await?;
        let stack = args.stack.stack_name.clone();
        let place = format!("stack {stack} ({})", aws.region());
        let secrets = SecretStore::new(aws.ssm(), &stack, aws.region());
        let edge = edge_store(&aws, &stack).await?;
        match args.action {
            KeysAction::List => out.data(&listing(place, &secrets, &edge).await?),
            KeysAction::Rotate => {
                let key = Key::generate(keyring::now())?;
                // The edge first: a URL signed with the new key must never meet an edge
                // that does not know it.
                edge.put(&key).await?;
                secrets.put(&key).await?;
                let remaining = secrets.keys().await?.into_iter().map(|k| k.kid).collect();
                out.data(&Changed {
                    action: "rotated",
                    kid: key.kid,
                    place,
                    remaining,
                })
            }
            KeysAction::Retire { kid, force } => {
                let keys = secrets.keys().await?;
                let at_edge = edge.kids().await?;
                if !keys.iter().any(|k| k.kid == kid) && !at_edge.contains(&kid) {
                    return Err(no_such_key(&kid, &place));
                }
                check_last(&keys, &kid, force)?;
                // The edge first: once it is gone there, nobody can use the key, and its
                // secret is only the signer's history.
                edge.delete(&kid).await?;
                secrets.delete(&kid).await?;
                let remaining = keys
                    .into_iter()
                    .map(|k| k.kid)
                    .filter(|k| *k != kid)
                    .collect();
                out.data(&Changed {
                    action: "retired",
                    kid,
                    place,
                    remaining,
                })
            }
        }
    })
}

async fn listing(
    place: String,
    secrets: &SecretStore,
    edge: &EdgeStore,
) -> Result<Listing, CliError> {
    let keys = secrets.keys().await?;
    let at_edge = edge.kids().await?;
    let newest = keys.iter().max_by_key(|k| k.created).map(|k| k.kid.clone());
    Ok(Listing {
        place,
        edge_only: at_edge
            .iter()
            .filter(|kid| !keys.iter().any(|k| &k.kid == *kid))
            .cloned()
            .collect(),
        keys: keys
            .iter()
            .map(|k| Listed {
                kid: k.kid.clone(),
                created: k.created_at(),
                signs: Some(&k.kid) == newest.as_ref(),
                at_edge: at_edge.contains(&k.kid),
            })
            .collect(),
    })
}

fn no_such_key(kid: &str, place: &str) -> CliError {
    CliError::new(format!("no signing key `{kid}` in {place}"))
        .hint("`imgflex keys list` shows the keys there are")
}

/// Retiring the last key leaves no URL that verifies: only when asked twice.
fn check_last(keys: &[Key], kid: &str, force: bool) -> Result<(), CliError> {
    if !force && keys.iter().all(|k| k.kid == kid) && !keys.is_empty() {
        return Err(CliError::new(format!(
            "`{kid}` is the last signing key: with it gone, every signed URL is refused"
        ))
        .hint("`imgflex keys rotate` first (then retire this one), or add --force"));
    }
    Ok(())
}

fn local(args: KeysArgs, out: &Output) -> Result<(), CliError> {
    let path = keyring::local_path()?;
    let place = format!("the local keyring {}", path.display());
    let mut ring = keyring::load(&path)?;
    match args.action {
        KeysAction::List => {
            let newest = ring.signer(None).ok().map(|k| k.kid.clone());
            out.data(&Listing {
                keys: ring
                    .keys
                    .iter()
                    .map(|k| Listed {
                        kid: k.kid.clone(),
                        created: k.created_at(),
                        signs: Some(&k.kid) == newest.as_ref(),
                        at_edge: true,
                    })
                    .collect(),
                place,
                edge_only: Vec::new(),
            })
        }
        KeysAction::Rotate => {
            let mut key = Key::generate(keyring::now())?;
            // Two rotations in one second must still leave the new key the newest.
            if let Some(last) = ring.keys.iter().map(|k| k.created).max() {
                key.created = key.created.max(last + 1);
            }
            let kid = key.kid.clone();
            ring.keys.push(key);
            keyring::save(&path, &ring)?;
            let remaining = ring.keys.iter().map(|k| k.kid.clone()).collect();
            out.data(&Changed {
                action: "rotated",
                kid,
                place,
                remaining,
            })
        }
        KeysAction::Retire { kid, force } => {
            if !ring.keys.iter().any(|k| k.kid == kid) {
                return Err(no_such_key(&kid, &place));
            }
            check_last(&ring.keys, &kid, force)?;
            ring.keys.retain(|k| k.kid != kid);
            keyring::save(
                &path,
                &Keyring {
                    keys: ring.keys.clone(),
                },
            )?;
            let remaining = ring.keys.iter().map(|k| k.kid.clone()).collect();
            out.data(&Changed {
                action: "retired",
                kid,
                place,
                remaining,
            })
        }
    }
}
