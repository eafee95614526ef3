//! A 100 MiB blob pushed between two SQLite databases over real 127.0.0.1 sockets (one process
//! holds both peers), measuring the peak RSS growth and the throughput. Ignored by default (it
//! takes CI time); run it alone, on a quiet machine, with:
//!
//! ```sh
//! cargo test --release -p ferry-tokio --test big_blob -- --ignored --nocapture
//! ```
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

use std::io::Read;
use std::time::{Duration, Instant};

use ferry_engine::blob::BlobHasher;
use ferry_engine::value::Value;
use ferry_net::api::{ReplicatorConfig, ReplicatorType};
use ferry_net::driver::{Listener, Replicator};
use ferry_store_sqlite::SqliteStore;
use ferry_testkit::common::{plain_listener, sqlite, wait_for};
use ferry_tokio::TokioRuntime;

const SIZE: u64 = 100 << 20;

/// `len` bytes of a pattern, generated as they are read (no 100 MiB buffer).
struct Pattern {
    at: u64,
    len: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from((self.len - self.at).min(buf.len() as u64)).unwrap();
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let x = self.at + i as u64;
            *b = (x ^ (x >> 8) ^ (x >> 16)) as u8;
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[test]
#[ignore = "moves 100 MiB: run with --release -- --ignored --nocapture"]
fn a_100_mib_blob_moves_with_bounded_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let a = sqlite(dir.path(), "a", 1);
        let b = sqlite(dir.path(), "b", 2);
        let blob = a
            .handle
            .with::<SqliteStore, _>(|db| {
                let blob = db
                    .save_blob_from_reader(Pattern { at: 0, len: SIZE }, None)
                    .unwrap();
                let body = Value::object([("file", blob.to_value())]);
                db.put("big", &body, None).unwrap();
                blob
            })
            .await
            .unwrap();
        assert_eq!(blob.length, SIZE);

        // Peak RSS from here on: reset the high-water mark (Linux `clear_refs` 5).
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = status_kib("VmRSS:");
        let listener = Listener::<TokioRuntime>::start(plain_listener(&b))
            .await
            .unwrap();
        let started = Instant::now();
        let replicator = Replicator::<TokioRuntime>::new(
            ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
                .replicator_type(ReplicatorType::Push),
        )
        .unwrap();
        replicator.start(false).unwrap();
        let status = wait_for(&replicator, "Stopped", |s| {
            s.activity == ferry_net::api::ActivityLevel::Stopped && s.attempts > 0
        })
        .await;
        let elapsed = started.elapsed().max(Duration::from_millis(1));
        let peak = status_kib("VmHWM:");
        assert!(status.error.is_none(), "{status:?}");
        listener.stop().await;

        // The blob arrived whole: hash it as a stream on b.
        let digest = b
            .handle
            .with::<SqliteStore, _>(move |db| {
                let mut reader = db.blob_reader(&blob.digest).unwrap().expect("stored on b");
                let mut hasher = BlobHasher::new();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = reader.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                assert_eq!(hasher.length(), SIZE);
                hasher.finish()
            })
            .await
            .unwrap();
        assert_eq!(digest, blob.digest);

        let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
        let mb_per_s = SIZE as f64 / 1e6 / elapsed.as_secs_f64();
        eprintln!(
            "100 MiB blob pushed SQLite -> SQLite (Ferry_1, ranged getAttachment): {:.2} s, \
             {mb_per_s:.1} MB/s; peak RSS growth {growth_mib:.1} MiB (both peers in one process; \
             high-water mark reset: {reset})",
            elapsed.as_secs_f64()
        );
        // Bounded memory: far below the blob's size.
        assert!(
            growth_mib < 64.0,
            "peak RSS grew by {growth_mib:.1} MiB moving a 100 MiB blob"
        );
    });
}
