//! Where originals come from and variants go: a small trait, so the request path runs the
//! same against S3 in the Lambda, an in-memory map in tests, and directories in `imgflex dev`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use thiserror::Error;

/// A stored variant: bytes and the headers S3 keeps with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub cache_control: String,
}

/// An original as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Found(Vec<u8>),
    Missing,
    /// Bigger than the limit: the size, known before the body was read.
    TooLarge(u64),
}

/// The store could not answer (network, permissions, throttling). Never shown to a viewer.
#[derive(Debug, Error)]
#[error("{operation} `{key}`: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub key: String,
    pub message: String,
}

pub trait Store: Send + Sync + 'static {
    /// Reads an original, refusing (without downloading it) one bigger than `max_bytes`.
    fn get_original(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Fetched, StoreError>> + Send;
    fn get_variant(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Object>, StoreError>> + Send;
    fn put_variant(
        &self,
        key: &str,
        object: Object,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Originals and variants in memory, with read counters so tests can tell what was fetched.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Debug, Default)]
struct Memory {
    originals: HashMap<String, Vec<u8>>,
    variants: HashMap<String, Object>,
    original_reads: usize,
    variant_reads: usize,
    fail_puts: bool,
    fail_reads: bool,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn put_original(&self, key: &str, bytes: Vec<u8>) {
        self.lock().originals.insert(key.to_string(), bytes);
    }

    pub fn variant(&self, key: &str) -> Option<Object> {
        self.lock().variants.get(key).cloned()
    }

    pub fn original_reads(&self) -> usize {
        self.lock().original_reads
    }

    pub fn variant_reads(&self) -> usize {
        self.lock().variant_reads
    }

    /// Makes every `put_variant` fail, to test what a store outage looks like.
    pub fn fail_puts(&self) {
        self.lock().fail_puts = true;
    }

    /// Every read (original or variant) fails from now on, as S3 does when it throttles or
    /// the role lost its permission.
    pub fn fail_reads(&self) {
        self.lock().fail_reads = true;
    }
}

fn injected(operation: &'static str, key: &str) -> StoreError {
    StoreError {
        operation,
        key: key.to_string(),
        message: "injected failure".into(),
    }
}

impl Store for MemoryStore {
    async fn get_original(&self, key: &str, max_bytes: u64) -> Result<Fetched, StoreError> {
        let mut m = self.lock();
        m.original_reads += 1;
        if m.fail_reads {
            return Err(injected("get original", key));
        }
        Ok(match m.originals.get(key) {
            None => Fetched::Missing,
            Some(b) if b.len() as u64 > max_bytes => Fetched::TooLarge(b.len() as u64),
            Some(b) => Fetched::Found(b.clone()),
        })
    }

    async fn get_variant(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let mut m = self.lock();
        m.variant_reads += 1;
        if m.fail_reads {
            return Err(injected("get variant", key));
        }
        Ok(m.variants.get(key).cloned())
    }

    async fn put_variant(&self, key: &str, object: Object) -> Result<(), StoreError> {
        let mut m = self.lock();
        if m.fail_puts {
            return Err(injected("put variant", key));
        }
        m.variants.insert(key.to_string(), object);
        Ok(())
    }
}
