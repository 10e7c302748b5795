//! Single-flight: concurrent requests for the same key share one piece of work. The first
//! caller starts it as a task of its own, so a viewer that hangs up cannot cancel the work
//! the others are waiting for; everyone who arrives while it runs gets a clone of its result.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// Whether this caller did the work or waited for another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

/// The work died (it panicked) before it had a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the shared work for `{0}` ended without a result")]
pub struct Abandoned(pub String);

/// The works in flight, by key. A key leaves the map when its work finishes, so this is
/// coalescing, not caching: the next request after that starts afresh.
#[derive(Debug)]
pub struct Flights<V> {
    in_flight: Mutex<HashMap<String, watch::Receiver<Option<V>>>>,
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Flights {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Flights<V> {
    /// Runs `work` for `key` unless a run for it is already in flight, and returns that run's
    /// result. `work` is only polled (in a spawned task) when this caller leads.
    pub async fn run<F>(self: &Arc<Self>, key: &str, work: F) -> Result<(V, Role), Abandoned>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let (mut receiver, role) = {
            let mut map = self.lock();
            match map.get(key) {
                Some(receiver) => (receiver.clone(), Role::Follower),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    map.insert(key.to_string(), receiver.clone());
                    let guard = Landing {
                        flights: Arc::clone(self),
                        key: key.to_string(),
                    };
                    tokio::spawn(async move {
                        let value = work.await;
                        // Leave the map before publishing: whoever comes after the result
                        // starts a new flight (and finds the stored variant) rather than
                        // joining a finished one.
                        drop(guard);
                        let _ = sender.send(Some(value));
                    });
                    (receiver, Role::Leader)
                }
            }
        };
        let value = receiver
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Abandoned(key.to_string()))?
            .clone();
        value
            .map(|v| (v, role))
            .ok_or_else(|| Abandoned(key.to_string()))
    }

    /// How many keys are in flight now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, watch::Receiver<Option<V>>>> {
        // The map stays consistent across a panic (inserts and removes are single calls).
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a key from the map when its work ends, also when the work panics (the guard drops
/// during the unwind), so a failed key does not stay stuck in flight.
struct Landing<V> {
    flights: Arc<Flights<V>>,
    key: String,
}

impl<V> Drop for Landing<V> {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_run() {
        let flights = Arc::new(Flights::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = Vec::new();
        // The first caller's work blocks until every other caller has joined.
        {
            let runs = Arc::clone(&runs);
            let flights = Arc::clone(&flights);
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        released.await.unwrap();
                        7
                    })
                    .await
            }));
        }
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        let joined = Arc::new(AtomicUsize::new(0));
        for _ in 0..49 {
            let runs = Arc::clone(&runs);
            let flights = Arc::clone(&flights);
            let joined = Arc::clone(&joined);
            tasks.push(tokio::spawn(async move {
                // `run` looks the key up in the same poll, before its first await.
                joined.fetch_add(1, Ordering::SeqCst);
                flights
                    .run("k", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        8
                    })
                    .await
            }));
        }
        while joined.load(Ordering::SeqCst) < 49 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.send(()).unwrap();
        let mut leaders = 0;
        for task in tasks {
            let (value, role) = task.await.unwrap().unwrap();
            assert_eq!(value, 7);
            leaders += usize::from(role == Role::Leader);
        }
        assert_eq!(leaders, 1);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn finished_flights_do_not_cache_and_keys_are_separate() {
        let flights = Arc::new(Flights::<&'static str>::default());
        let (a, role) = flights.run("a", async { "first" }).await.unwrap();
        assert_eq!((a, role), ("first", Role::Leader));
        let (a, role) = flights.run("a", async { "second" }).await.unwrap();
        assert_eq!((a, role), ("second", Role::Leader));
        let (b, _) = flights.run("b", async { "b" }).await.unwrap();
        assert_eq!(b, "b");
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_panicking_run_fails_its_callers_and_frees_the_key() {
        let flights = Arc::new(Flights::<u8>::default());
        let failed = flights
            .run("k", async {
                if true {
                    panic!("the work blew up");
                }
                1
            })
            .await;
        assert_eq!(failed, Err(Abandoned("k".into())));
        assert_eq!(flights.len(), 0);
        assert_eq!(
            flights.run("k", async { 2 }).await.unwrap(),
            (2, Role::Leader)
        );
    }

    #[tokio::test]
    async fn a_leader_that_hangs_up_does_not_cancel_the_work() {
        let flights = Arc::new(Flights::<u8>::default());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .run("k", async move {
                        released.await.unwrap();
                        3
                    })
                    .await
            })
        };
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let follower = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move { flights.run("k", async { 4 }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.send(()).unwrap();
        assert_eq!(follower.await.unwrap().unwrap(), (3, Role::Follower));
    }
}
