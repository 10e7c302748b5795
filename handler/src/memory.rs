//! The allocator's settings for a process that decodes large images on several threads: the
//! Lambda (warm for hours) and `imgflex dev`.
//!
//! glibc's malloc gives each thread that allocates its own arena (up to 8 per core), and an
//! arena keeps the memory a 50 MP decode freed for the next request on that thread. With two
//! arenas and a fixed mmap threshold every image buffer is its own mapping and goes back to the
//! system when it is freed. Measured with `imgflex dev`, idle RSS after each of eight bursts of
//! six 49 MP misses (with the resizer's scratch also dropped, `pixels::KEPT_SCRATCH_BYTES`):
//! 15, 140, 140, 189, 237, 237, 285, 285, 333 MB with glibc's sizes, 15, 22, 23, … 23 MB with
//! these; peak 1033 → 803 MB. The README ("Memory") has the whole table.

/// Two arenas, and buffers from 8 MiB up mapped on their own (glibc would otherwise raise the
/// threshold to the largest buffer freed, up to 32 MiB, and keep the rest in the arenas).
/// `MALLOC_ARENA_MAX` and `MALLOC_MMAP_THRESHOLD_` in the environment still win: glibc reads
/// them at startup, and this leaves a setting alone when its variable is set.
pub fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ARENAS: i32 = 2;
        const MMAP_THRESHOLD: i32 = 8 * 1024 * 1024;
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only changes malloc's parameters; it is safe to call at any time.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, ARENAS);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
    }
}
