//! Measurements: peak resident memory (Linux `/proc`) and latency percentiles.

use std::time::Duration;

/// Reads one `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's peak resident set size (`VmHWM`) in KiB, where the system reports it.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Restarts the peak resident set size from the current one (writing `5` to
/// `/proc/self/clear_refs`, Linux 4.0+), so a scenario's peak is its own.
pub(crate) fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// KiB → MiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `p`-th percentile (0–100) of `sorted` by the nearest-rank rule.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&ms[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn peak_rss_is_readable_and_resettable_here() {
        // A 64 MiB buffer, touched, raises the peak; once it is freed, a reset brings the peak
        // well below it again (a margin, since other tests of this binary run meanwhile).
        let buffer = vec![1u8; 64 << 20];
        let with_buffer = peak_rss_kib().expect("VmHWM in /proc/self/status");
        assert!(with_buffer >= 64 << 10, "{with_buffer} KiB");
        drop(std::hint::black_box(buffer));
        reset_peak_rss().expect("clear_refs accepts 5");
        let after = peak_rss_kib().unwrap();
        assert!(
            after + (32 << 10) < with_buffer,
            "{after} KiB vs {with_buffer} KiB"
        );
    }
}
