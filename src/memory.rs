//! Returning freed heap to the operating system.
//!
//! Loading a large configuration allocates several times the file's size
//! for a moment (the TOML parser's tokens and trees, the raw tag list next
//! to the validated one). glibc keeps memory freed below the top of its
//! heaps mapped, so without a trim that moment sets the process's resident
//! size for good: at 100 000 tags it was most of the steady RSS.

/// Hands the allocator's free pages back to the kernel. Cheap enough to
/// call after each configuration load (a few ms at 100 000 tags); a no-op
/// where the C library is not glibc, whose allocators return memory on
/// their own or not at all.
pub fn release_freed() {
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's
    // own free lists, under its locks; any thread may call it at any time.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _released = unsafe { libc::malloc_trim(0) };
}

/// Runs `load` (a configuration load) with the memory it frees kept by the
/// allocator, then hands it all back at once. Loading one `[[plc]]` at a
/// time frees each PLC's parse before the next is read; with glibc's
/// default 128 KiB trim threshold every such free shrank the heap and the
/// next PLC grew it again, four times the page faults and a third more
/// time at 100 000 tags. The parser's token lists of a PLC (a few hundred
/// KB) are kept in the heap for the same reason, instead of a mapping of
/// their own each. Afterwards both thresholds are glibc's initial 128 KiB
/// (see [`tune_for_service`] for why they stay there). Left alone when the
/// environment sets them (`MALLOC_TRIM_THRESHOLD_`,
/// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES`).
pub fn while_loading<T>(load: impl FnOnce() -> T) -> T {
    let tune = [
        "GLIBC_TUNABLES",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
    ]
    .iter()
    .all(|v| std::env::var_os(v).is_none());
    if tune {
        set(M_TRIM_THRESHOLD, LOADING_THRESHOLD);
        set(M_MMAP_THRESHOLD, LOADING_THRESHOLD);
    }
    let out = load();
    if tune {
        set(M_TRIM_THRESHOLD, INITIAL_THRESHOLD);
        set(M_MMAP_THRESHOLD, INITIAL_THRESHOLD);
    }
    release_freed();
    out
}

/// While loading: no trim and no block in its own mapping below this.
const LOADING_THRESHOLD: i32 = 32 << 20;
/// glibc's initial trim and mmap thresholds.
const INITIAL_THRESHOLD: i32 = 128 << 10;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use libc::{M_MMAP_THRESHOLD, M_TRIM_THRESHOLD};
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const M_MMAP_THRESHOLD: i32 = 0;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const M_TRIM_THRESHOLD: i32 = 0;

/// `mallopt(param, value)` where the C library is glibc.
fn set(param: i32, value: i32) {
    // SAFETY: mallopt takes two integers and changes a setting the
    // allocator reads under its own lock.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _set = unsafe { libc::mallopt(param, value) };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (param, value);
}

/// How the service's allocator is set up (glibc only), unless the
/// environment already says (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`
/// or `GLIBC_TUNABLES`). Measured at 100 000 tags (BENCHMARKS.md, "Memory"):
///
/// - Two arenas. glibc gives threads that allocate at the same time arenas
///   of their own (up to eight per core), and each keeps its freed memory;
///   the runtime's workers and blocking threads hand scans and batches to
///   each other, so they free into each other's arenas and every arena
///   grows to the working set. One arena held no less once large blocks
///   were mapped (below) and cost about 10 % more CPU in lock contention.
/// - Blocks of 128 KiB and more in their own mappings, returned to the
///   kernel when freed. By default glibc raises that threshold each time
///   such a block is freed, up to 32 MiB, after which batch and spool
///   buffers of a few MB land inside the heap and leave holes that later
///   small blocks pin. A batch's mapping costs a few page faults, against
///   megabytes that stayed resident.
///
/// Call before any thread starts.
pub fn tune_for_service() {
    let set = |var: &str| std::env::var_os(var).is_some();
    if set("GLIBC_TUNABLES") {
        return;
    }
    if !set("MALLOC_ARENA_MAX") {
        // SAFETY: mallopt takes two integers and changes a setting the
        // allocator reads under its own lock.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let _set = unsafe { libc::mallopt(libc::M_ARENA_MAX, SERVICE_ARENAS) };
    }
    if !set("MALLOC_MMAP_THRESHOLD_") {
        // SAFETY: as above.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let _set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, SERVICE_MMAP_THRESHOLD) };
    }
}

/// See [`tune_for_service`].
pub const SERVICE_ARENAS: i32 = 2;
/// glibc's initial value, fixed (no raising): what [`while_loading`] returns to.
pub const SERVICE_MMAP_THRESHOLD: i32 = INITIAL_THRESHOLD;

/// When the running gateway hands freed heap back (see [`trim_every`]):
/// once start-up has settled, then every minute.
pub const TRIM_FIRST: std::time::Duration = std::time::Duration::from_secs(5);
pub const TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// Calls [`release_freed`] after `first`, then every `period`. Start-up
/// goes on after the configuration is loaded (the encoder's and planner's
/// working lists, the field-type check against InfluxDB, the first scans),
/// and what it frees among the long-lived allocations stays resident
/// otherwise. A trim walks the free lists only: a few ms at 100 000 tags.
pub async fn trim_every(first: std::time::Duration, period: std::time::Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
    loop {
        tick.tick().await;
        release_freed();
    }
}
