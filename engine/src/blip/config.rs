//! Limits and tuning of a BLIP connection.

/// Limits and tuning of a BLIP connection. Every buffer is bounded by one of these.
///
/// Build one with [`Config::default`] and adjust fields; the defaults follow Couchbase Lite
/// where it has a figure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Data bytes per outgoing frame when other messages are waiting (default 4096).
    pub frame_size: usize,
    /// Data bytes per outgoing frame for urgent messages or a message alone in the outbox
    /// (default 16384).
    pub max_frame_size: usize,
    /// The largest incoming frame accepted, header and CRC included (default 65536).
    pub max_incoming_frame_size: usize,
    /// The largest message (its uncompressed data) sent or accepted (default 20 MiB).
    pub max_message_size: usize,
    /// The largest property block accepted (default 64 KiB).
    pub max_properties_size: usize,
    /// The most bytes held in partially received messages at once (default 32 MiB).
    pub max_incoming_buffered: usize,
    /// The most unsent bytes queued in the outbox (default 32 MiB).
    pub max_outbox_bytes: usize,
    /// Send an ACK after this many bytes of a message arrived since the last one (default
    /// 50,000). Bytes are counted as sent: frame size minus its header.
    pub ack_threshold: u64,
    /// Pause an outgoing message once this many of its bytes are unacknowledged (default
    /// 128,000). It must be at least the peer's ACK threshold or the message could wait
    /// forever; Ferry never uses less than its own [`Config::ack_threshold`].
    pub max_unacked_bytes: u64,
    /// After this many urgent frames in a row, a waiting normal message gets one frame
    /// (default 4).
    pub urgent_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            frame_size: 4096,
            max_frame_size: 16384,
            max_incoming_frame_size: 65536,
            max_message_size: 20 << 20,
            max_properties_size: 64 << 10,
            max_incoming_buffered: 32 << 20,
            max_outbox_bytes: 32 << 20,
            ack_threshold: 50_000,
            max_unacked_bytes: 128_000,
            urgent_burst: 4,
        }
    }
}

impl Config {
    /// The flow-control window in force: [`Config::max_unacked_bytes`], raised to
    /// [`Config::ack_threshold`] (a sender that pauses before the receiver's threshold would
    /// never get its ACK).
    #[must_use]
    pub fn effective_window(&self) -> u64 {
        self.max_unacked_bytes.max(self.ack_threshold).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_never_below_ack_threshold() {
        assert_eq!(Config::default().effective_window(), 128_000);
        let c = Config {
            max_unacked_bytes: 10,
            ..Config::default()
        };
        assert_eq!(c.effective_window(), 50_000);
    }
}
