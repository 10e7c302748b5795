//! The allocator's settings, for the two ways imgflex's processes use memory: one image at a
//! time (the Lambda, and `imgflex bench`, which measures it) or bursts of many on several
//! threads and then idle (`imgflex dev`).
//!
//! glibc's malloc gives each thread that allocates its own arena (up to 8 per core), and an
//! arena keeps the memory a 50 MP decode freed for the next request on that thread. With two
//! arenas and a fixed mmap threshold every image buffer is its own mapping and goes back to the
//! system when it is freed. Measured with `imgflex dev`, idle RSS after each of eight bursts of
//! six 49 MP misses (with the resizer's scratch also dropped, `pixels::KEPT_SCRATCH_BYTES`):
//! 15, 140, 140, 189, 237, 237, 285, 285, 333 MB with glibc's sizes, 15, 22, 23, … 23 MB with
//! these; peak 1033 → 803 MB. The README ("Memory") has the whole table.
//!
//! Giving memory back has a price, paid on every request: the next one faults the pages in
//! again and the kernel zeroes each (measured: a third of a 1920-pixel JPEG re-encode, 37 →
//! 25 ms, and of a 10 MP progressive decode and resize, 250 → 166 ms). A process that serves
//! one image at a time gains nothing by returning what the next request will take back, so
//! there freed memory up to the mmap ceiling stays mapped, and RSS stays at the largest
//! request's (which the Lambda's memory size had to hold anyway).

/// How a process uses memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// One image at a time (a Lambda execution environment gets one event at a time): what a
    /// request freed stays mapped for the next.
    OneAtATime,
    /// Bursts of concurrent requests on several threads, then idle: freed image buffers go
    /// back to the system.
    Bursts,
}

/// Two arenas either way. For bursts, buffers from 8 MiB up are mapped on their own (glibc
/// would otherwise raise the threshold to the largest buffer freed, up to 32 MiB, and keep
/// the rest in the arenas). One at a time, buffers up to 32 MiB (glibc's ceiling) come from
/// the arenas, which are never trimmed and grow 64 MiB at a time.
/// `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` and
/// `MALLOC_TOP_PAD_` in the environment still win: glibc reads them at startup, and this
/// leaves a setting alone when its variable is set.
pub fn tune_allocator(workload: Workload) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MIB: i32 = 1024 * 1024;
        let settings: &[(&str, i32, i32)] = match workload {
            Workload::Bursts => &[
                ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2),
                ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 8 * MIB),
            ],
            Workload::OneAtATime => &[
                ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2),
                ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 32 * MIB),
                ("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, i32::MAX),
                ("MALLOC_TOP_PAD_", libc::M_TOP_PAD, 64 * MIB),
            ],
        };
        for &(variable, param, value) in settings {
            if std::env::var_os(variable).is_none() {
                // SAFETY: mallopt only changes malloc's parameters; it is safe to call at
                // any time.
                #[allow(unsafe_code)]
                unsafe {
                    libc::mallopt(param, value);
                }
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = workload;
}
