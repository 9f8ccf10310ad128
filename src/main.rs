//! The `wucache` binary: everything lives in the library; see `wucache::cli`.
//!
//! The binary picks the memory allocator: jemalloc, with its background thread handing freed
//! pages back to the system. glibc's malloc kept what start-up and the fragment warm-up
//! freed (one arena per thread, holes between long-lived allocations): 376 MiB once a 100k
//! catalog's fragment cache was warm, against 276 MiB with jemalloc (README: Benchmarks).

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    return_freed_memory_in_the_background();
    wucache::cli::main()
}

/// Starts jemalloc's background thread, which purges freed pages as they age (by default
/// jemalloc purges only on the allocating threads' own calls, so an idle daemon would keep
/// what its last burst freed).
fn return_freed_memory_in_the_background() {
    if let Err(err) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!(
            "wucache: jemalloc's background thread did not start ({err}); freed memory goes back \
             to the system only while the daemon allocates"
        );
    }
}
