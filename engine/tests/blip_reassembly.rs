//! Property tests: reassembly under any chunking and interleaving of frames, with compression
//! switched per frame, and Connection round trips under any frame size configuration.

use ferry_engine::blip::{
    Config, Connection, Event, FrameFlags, FrameHeader, FrameReader, FrameWriter, Message,
    MessageType, Received, SendOptions,
};
use proptest::prelude::*;

fn arb_message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(("[a-zA-Z-]{1,10}", "[^\0]{0,16}"), 0..4),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            (1usize..20_000).prop_map(|n| (0..n).map(|i| (i % 251) as u8).collect()),
        ],
    )
        .prop_map(|(props, body)| Message {
            properties: props.into_iter().collect(),
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Messages cut at arbitrary sizes, frames interleaved in an arbitrary order, each frame
    /// compressed or not: the reader gives back every message exactly, with its frame count.
    #[test]
    fn reassembly_under_any_chunking(
        messages in proptest::collection::vec(arb_message(), 1..6),
        chunk_sizes in proptest::collection::vec(1usize..5_000, 1..8),
        schedule in proptest::collection::vec(any::<u8>(), 0..200),
        compress in proptest::collection::vec(any::<bool>(), 1..16),
    ) {
        let data: Vec<Vec<u8>> = messages.iter().map(|m| m.encode().unwrap()).collect();
        let mut offsets = vec![0usize; data.len()];
        let mut frames_per_message = vec![0usize; data.len()];
        let mut writer = FrameWriter::new();
        let mut frames = Vec::new();
        let (mut step, mut pick) = (0usize, schedule.into_iter().cycle());
        while offsets.iter().zip(&data).any(|(o, d)| *o < d.len() || d.is_empty()) {
            let open: Vec<usize> = (0..data.len()).filter(|&i| offsets[i] < data[i].len()).collect();
            if open.is_empty() { break; }
            let i = open[usize::from(pick.next().unwrap_or(0)) % open.len()];
            let size = chunk_sizes[step % chunk_sizes.len()];
            let end = (offsets[i] + size).min(data[i].len());
            let mut flags = if end < data[i].len() { FrameFlags::MORE_COMING } else { 0 };
            if compress[step % compress.len()] {
                flags |= FrameFlags::COMPRESSED;
            }
            let header = FrameHeader::new(i as u64 + 1, MessageType::Request, flags);
            frames.push(writer.encode_frame(&header, &data[i][offsets[i]..end]).unwrap());
            offsets[i] = end;
            frames_per_message[i] += 1;
            step += 1;
        }
        let mut reader = FrameReader::new(&Config::default());
        let mut got = vec![None; data.len()];
        for f in &frames {
            if let Received::Message(m) = reader.handle_frame(f).unwrap() {
                let i = (m.number - 1) as usize;
                prop_assert!(got[i].is_none());
                prop_assert_eq!(m.frames, frames_per_message[i]);
                got[i] = Some(m.message);
            }
        }
        for (i, m) in messages.iter().enumerate() {
            prop_assert_eq!(got[i].as_ref(), Some(m));
        }
        prop_assert_eq!(reader.buffered(), 0);
    }

    /// Two Connections with arbitrary frame sizes and flow-control windows exchange arbitrary
    /// messages; every request arrives intact and every reply finds its request.
    #[test]
    fn connections_round_trip_under_any_frame_sizes(
        messages in proptest::collection::vec((arb_message(), any::<(bool, bool, bool)>()), 1..8),
        frame_size in 1usize..6_000,
        max_frame_size in 1usize..20_000,
        window in 1u64..40_000,
        ack_threshold in 1u64..30_000,
    ) {
        let mut config = Config::default();
        config.frame_size = frame_size;
        config.max_frame_size = max_frame_size;
        config.max_unacked_bytes = window;
        config.ack_threshold = ack_threshold;
        let mut a = Connection::new(config.clone());
        let mut b = Connection::new(config);
        for (m, (urgent, compressed, no_reply)) in &messages {
            let options = SendOptions { urgent: *urgent, compressed: *compressed, no_reply: *no_reply };
            a.send_request(m, options).unwrap();
        }
        let mut received = Vec::new();
        let mut replies = 0;
        for _ in 0..1_000_000 {
            let mut moved = false;
            while let Some(f) = a.poll_frame() { b.handle_frame(&f).unwrap(); moved = true; }
            while let Some(e) = b.poll_event() {
                if let Event::RequestReceived { number, message, no_reply } = e {
                    if !no_reply {
                        b.send_reply(number, &Message::new().with_body(message.body.clone())).unwrap();
                    }
                    received.push((number, message));
                }
            }
            while let Some(f) = b.poll_frame() { a.handle_frame(&f).unwrap(); moved = true; }
            while let Some(e) = a.poll_event() {
                if let Event::ReplyReceived { request_number, reply: Ok(r) } = e {
                    let (m, _) = &messages[(request_number - 1) as usize];
                    prop_assert_eq!(&r.body, &m.body);
                    replies += 1;
                }
            }
            if !moved { break; }
        }
        received.sort_by_key(|(n, _)| *n);
        prop_assert_eq!(received.len(), messages.len());
        for ((n, got), (i, (want, _))) in received.iter().zip(messages.iter().enumerate()) {
            prop_assert_eq!(*n, i as u64 + 1);
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(replies, messages.iter().filter(|(_, o)| !o.2).count());
        prop_assert_eq!(a.pending_requests(), 0);
    }
}
