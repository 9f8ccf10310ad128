//! CPU time and memory of this process, its threads and other processes, read from `/proc`
//! (Linux only; a figure that cannot be read is zero).

use std::path::PathBuf;
use std::time::Duration;

/// A `kB` field of a `/proc/.../status` file.
pub(crate) fn status_kib(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A `kB` field of this process's status (`VmRSS:`, `VmHWM:` …).
pub(crate) fn self_status_kib(key: &str) -> u64 {
    status_kib("/proc/self/status", key)
}

/// This process's peak RSS (`VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> f64 {
    self_status_kib("VmHWM:") as f64 / 1024.0
}

/// Field `field` of a `schedstat` file (ns): 0 is the time on CPU, 1 the time spent runnable
/// but waiting for a CPU (taken by other threads or processes).
pub(crate) fn schedstat(path: &str, field: usize) -> Option<Duration> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .nth(field)?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// CPU time of this process's live threads called `name` (`/proc/self/task/*/`).
pub(crate) fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    tasks
        .filter_map(Result::ok)
        .filter(|task| read(task.path().join("comm")).trim() == name)
        .filter_map(|task| schedstat(task.path().join("schedstat").to_str()?, 0))
        .sum()
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`; the kernel updates it at
/// least every scheduler tick, so one reading may lag by a tick).
pub(crate) fn thread_cpu() -> Duration {
    schedstat("/proc/thread-self/schedstat", 0).unwrap_or_default()
}

/// Time the calling thread was runnable but waited for a CPU (taken by other threads or
/// other processes on the shared cores).
pub(crate) fn thread_run_queue_wait() -> Duration {
    schedstat("/proc/thread-self/schedstat", 1).unwrap_or_default()
}

/// CPU time of the whole process, all threads (utime + stime of `/proc/self/stat`, in clock
/// ticks of 10 ms: `getconf CLK_TCK` is 100 on Linux).
pub(crate) fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// The soft `Max open files` limit of this process.
pub(crate) fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1_024)
}
