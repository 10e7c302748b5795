//! `imgflex dev`: the command around the dev server: where originals and variants live, the
//! policy, the runtime, the banner, and a clean stop on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imgflex_handler::Settings;
use imgflex_handler::pipeline::Acceleration;
use imgflex_handler::service::MAX_STREAMED_RESPONSE_BYTES;
use sha2::{Digest, Sha256};

use crate::build_support::hex;
use crate::cli::{DevArgs, GlobalArgs};
use crate::config::{DEFAULT_FILE, load_policy};
use crate::dev::store::{DevStore, Originals};
use crate::dev::{self, App, BindError, Config};
use crate::error::CliError;
use crate::keyring::{self, Key};
use crate::output::Output;
use imgflex_core::Signing;

pub fn run(args: DevArgs, global: &GlobalArgs, out: &Output) -> Result<(), CliError> {
    // The same allocator settings as the Lambda: its renders run here on blocking threads.
    imgflex_handler::memory::tune_allocator(imgflex_handler::memory::Workload::Bursts);
    let policy = load_policy(global.config.as_deref())?;
    let policy_label = match (&global.config, Path::new(DEFAULT_FILE).is_file()) {
        (Some(path), _) => format!("`{}`", path.display()),
        (None, true) => format!("`{DEFAULT_FILE}`"),
        (None, false) => "built-in defaults".to_string(),
    };
    let originals = match &args.originals {
        None => Originals::Samples,
        Some(dir) => {
            if !dir.is_dir() {
                return Err(
                    CliError::new(format!("`{}` is not a folder", dir.display())).hint(
                        "pass the folder that holds your originals, or leave out --originals for the samples",
                    ),
                );
            }
            // Absolute, so keys resolve the same wherever the process looks from, and the
            // default state folder is named by one spelling of the path.
            Originals::Dir(
                dir.canonicalize()
                    .map_err(|e| CliError::new(format!("cannot open `{}`: {e}", dir.display())))?,
            )
        }
    };
    let state = args
        .state
        .clone()
        .unwrap_or_else(|| default_state(&originals));
    let variants = state.join("variants");
    if args.fresh {
        match std::fs::remove_dir_all(&variants) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::new(format!(
                    "cannot empty `{}`: {e}",
                    variants.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(&variants).map_err(|e| {
        CliError::new(format!("cannot create `{}`: {e}", variants.display()))
            .hint("pick a writable folder with --state")
    })?;

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let settings = Settings {
        policy: policy.clone(),
        limits: policy.limits,
        // The stack's function URL streams, so every output is answered directly; the
        // redirect path is there for a buffered URL (and tests that lower the cap).
        max_response_bytes: args
            .max_response_bytes
            .unwrap_or(MAX_STREAMED_RESPONSE_BYTES),
        streaming: true,
    };
    let originals_label = match &originals {
        Originals::Samples => format!(
            "the samples built into imgflex ({})",
            dev::samples::SAMPLES
                .iter()
                .map(|s| s.key)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Originals::Dir(dir) => format!("`{}`", dir.display()),
    };
    // A policy that signs verifies as the edge does, with the local keyring (read at every
    // signed request, so `imgflex keys rotate --local` takes effect at once). A first key
    // is made when there is none, so a signed URL can be tried straight away.
    let keyring = if policy.signing == Signing::Off {
        None
    } else {
        let path = keyring::local_path()?;
        let mut ring = keyring::load(&path)?;
        if ring.keys.is_empty() {
            let key = Key::generate(keyring::now())?;
            out.status(format_args!(
                "signing = \"{}\": made a first local key {} in `{}`",
                policy.signing.as_str(),
                key.kid,
                path.display()
            ));
            ring.keys.push(key);
            keyring::save(&path, &ring)?;
        }
        Some(path)
    };
    let signing_label = match &keyring {
        None => String::new(),
        Some(path) => format!(
            "\n  signing    {} (keys in `{}`; `imgflex sign --local URL` signs)",
            policy.signing.as_str(),
            path.display()
        ),
    };
    let app = Arc::new(App::new(Config {
        keyring,
        policy,
        settings,
        store: DevStore::new(originals, variants.clone()),
        log_requests: !out.quiet,
        render_slots: cores,
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("imgflex-dev")
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async {
        let listener = dev::bind(args.port).await.map_err(|e| match e {
            BindError::InUse(port) => CliError::new(e.to_string()).hint(format!(
                "stop whatever listens on {port}, or choose another port with `--port`, e.g. `imgflex dev --port {}`",
                port.saturating_add(1)
            )),
            BindError::Other(..) => CliError::new(e.to_string())
                .hint("choose another port with `--port`"),
        })?;
        let address = listener
            .local_addr()
            .map_err(|e| CliError::new(format!("cannot read the bound address: {e}")))?;
        out.status(format_args!(
            "imgflex dev: http://{address}/\n  originals  {originals_label}\n  variants   `{}`\n  policy     {policy_label}{signing_label}\n  press Ctrl-C to stop",
            variants.display()
        ));
        // Renders in a build without its codecs' SIMD are slower than deployed ones: say so.
        for line in Acceleration::of_this_build().missing() {
            out.status(format_args!("warning: {line}"));
        }
        dev::serve(app, listener, dev::stop_signal()).await;
        Ok(())
    });
    // Transforms still running on blocking threads are not waited for past this.
    runtime.shutdown_timeout(Duration::from_secs(2));
    if result.is_ok() {
        out.status("imgflex dev: stopped");
    }
    result
}

/// `<user cache>/imgflex/dev/<which originals>`: one folder per originals folder, so two
/// projects with a `cat.jpg` each never serve each other's variants.
fn default_state(originals: &Originals) -> PathBuf {
    let base = dirs::cache_dir()
        .map(|d| d.join("imgflex").join("dev"))
        .unwrap_or_else(|| PathBuf::from(".imgflex-dev"));
    match originals {
        Originals::Samples => base.join("samples"),
        Originals::Dir(dir) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "root".to_string());
            let digest = hex(&Sha256::digest(dir.as_os_str().as_encoded_bytes()));
            base.join(format!("{name}-{}", &digest[..12]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_originals_folder_gets_its_own_state() {
        let a = default_state(&Originals::Dir(PathBuf::from("/a/photos")));
        let b = default_state(&Originals::Dir(PathBuf::from("/b/photos")));
        assert_ne!(a, b);
        assert!(
            a.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("photos-"))
        );
        assert!(default_state(&Originals::Samples).ends_with("dev/samples"));
    }
}
