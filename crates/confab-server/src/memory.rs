//! How the server asks glibc's malloc to give memory back.
//!
//! By default glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB):
//! after the first large request body is freed, the next ones come from the heap, and the pages
//! they leave behind stay with the process; each thread that allocates may also get an arena of
//! its own (up to eight per core), each keeping its free pages. Fixed thresholds of 128 KiB send
//! bodies, batches and transcripts to mappings of their own, unmapped when freed, and two
//! arenas keep the rest together. Measured in docs/performance.md (server peak RSS at 100k
//! conversations: 179 → 147 MiB).

/// The threshold above which a block is mapped on its own, and the free space at the top of
/// the heap above which it is returned.
const THRESHOLD_BYTES: i32 = 128 * 1024;
const ARENAS: i32 = 2;

/// Sets malloc's parameters, unless the operator set `GLIBC_TUNABLES` (theirs win). Call it
/// first thing in `main`. Returns whether they were set (false elsewhere than glibc).
pub fn tune_allocator() -> bool {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return false;
    }
    set_parameters()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_parameters() -> bool {
    [
        (libc::M_MMAP_THRESHOLD, THRESHOLD_BYTES),
        (libc::M_TRIM_THRESHOLD, THRESHOLD_BYTES),
        (libc::M_ARENA_MAX, ARENAS),
    ]
    .into_iter()
    // SAFETY: mallopt only records a parameter of the allocator; it takes any value of
    // these and answers 0 for one it refuses.
    .all(|(param, value)| unsafe { libc::mallopt(param, value) } == 1)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_parameters() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_parameters() {
        assert!(super::set_parameters(), "mallopt refused a parameter");
    }
}
