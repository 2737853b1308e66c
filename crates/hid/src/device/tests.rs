use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

/// Echoes CBOR payloads reversed after `delay`, records cancellations, and reports
/// busy while `busy` is set.
#[derive(Default)]
struct Fake {
    busy: AtomicBool,
    delay_ms: u64,
    upneeded: bool,
    cancelled: Arc<Mutex<Vec<bool>>>,
}

impl Backend for Fake {
    fn submit(
        &self,
        _kind: MessageKind,
        payload: Vec<u8>,
        _origin: Origin,
        wake: crate::Wake,
    ) -> Option<Job> {
        if self.busy.load(Ordering::SeqCst) {
            return None;
        }
        let (tx, rx) = crate::Reply::channel(wake);
        let status = Arc::new(AtomicU8::new(if self.upneeded {
            keepalive::UPNEEDED
        } else {
            keepalive::PROCESSING
        }));
        let cancel = Arc::new(AtomicBool::new(false));
        let (delay, c2, log) = (self.delay_ms, cancel.clone(), self.cancelled.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay));
            log.lock().unwrap().push(c2.load(Ordering::SeqCst));
            let mut r = payload;
            r.reverse();
            tx.send(r);
        });
        Some(Job {
            reply: rx,
            status,
            cancel,
        })
    }

    fn capabilities(&self) -> u8 {
        capability::CBOR | capability::WINK | capability::NMSG
    }
}

fn init(dev: &mut Device<Fake>) -> u32 {
    let out = dev.on_report(&fragment(BROADCAST_CID, cmd::INIT, &[1, 2, 3, 4, 5, 6, 7, 8])[0]);
    assert_eq!(out.len(), 1);
    let Some(Packet::Init {
        cid,
        cmd: c,
        len,
        data,
    }) = Packet::parse(&out[0])
    else {
        panic!()
    };
    assert_eq!((cid, c, len), (BROADCAST_CID, cmd::INIT, 17));
    assert_eq!(&data[..8], &[1, 2, 3, 4, 5, 6, 7, 8], "nonce echoed");
    assert_eq!(data[12], 2, "CTAPHID protocol version");
    assert_eq!(
        data[16],
        capability::CBOR | capability::WINK | capability::NMSG
    );
    u32::from_be_bytes(data[8..12].try_into().unwrap())
}

fn collect(dev: &mut Device<Fake>, first: Vec<[u8; REPORT_LEN]>) -> Vec<[u8; REPORT_LEN]> {
    let mut out = first;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let done = out.iter().any(|r| matches!(Packet::parse(r), Some(Packet::Init { cmd: c, .. }) if c != cmd::KEEPALIVE));
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        out.extend(dev.poll());
    }
    out
}

fn message(reports: &[[u8; REPORT_LEN]]) -> (u8, Vec<u8>) {
    let reports: Vec<_> = reports
        .iter()
        .skip_while(|r| {
            matches!(
                Packet::parse(*r),
                Some(Packet::Init {
                    cmd: cmd::KEEPALIVE,
                    ..
                })
            )
        })
        .collect();
    let Some(Packet::Init {
        cid,
        cmd: c,
        len,
        data,
    }) = Packet::parse(reports[0])
    else {
        panic!()
    };
    let mut m = Reassembly::start(cid, c, len, data).unwrap();
    for r in &reports[1..] {
        if let Some(Packet::Cont { seq, data, .. }) = Packet::parse(*r) {
            m.push(seq, data).unwrap();
        }
    }
    (c, m.into_payload())
}

#[test]
fn ping_echoes_long_messages_across_continuations() {
    let mut dev = Device::new(Arc::new(Fake::default()));
    let cid = init(&mut dev);
    let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut out = Vec::new();
    for r in fragment(cid, cmd::PING, &payload) {
        out.extend(dev.on_report(&r));
    }
    assert_eq!(message(&out), (cmd::PING, payload));
}

#[test]
fn cbor_gets_keepalives_then_the_answer() {
    let fake = Fake {
        delay_ms: 350,
        upneeded: true,
        ..Default::default()
    };
    let mut dev = Device::new(Arc::new(fake));
    let cid = init(&mut dev);
    let first = dev.on_report(&fragment(cid, cmd::CBOR, &[4, 5, 6])[0]);
    let out = collect(&mut dev, first);
    let keepalives = out
        .iter()
        .filter(|r| matches!(Packet::parse(*r), Some(Packet::Init { cmd: cmd::KEEPALIVE, data, .. }) if data[0] == keepalive::UPNEEDED))
        .count();
    assert!(
        keepalives >= 2,
        "UPNEEDED keepalives at most 100 ms apart, got {keepalives}"
    );
    assert_eq!(message(&out), (cmd::CBOR, vec![6, 5, 4]));
}

#[test]
fn other_channels_are_busy_and_cancel_reaches_the_backend() {
    let fake = Arc::new(Fake {
        delay_ms: 300,
        ..Default::default()
    });
    let log = fake.cancelled.clone();
    let mut dev = Device::new(fake);
    let a = init(&mut dev);
    let b = init(&mut dev);
    assert_ne!(a, b);
    dev.on_report(&fragment(a, cmd::CBOR, &[1])[0]);
    let busy = dev.on_report(&fragment(b, cmd::CBOR, &[2])[0]);
    assert_eq!(message(&busy), (cmd::ERROR, vec![err::CHANNEL_BUSY]));
    assert!(
        dev.on_report(&fragment(a, cmd::CANCEL, &[])[0]).is_empty(),
        "CANCEL has no response"
    );
    collect(&mut dev, Vec::new());
    assert_eq!(*log.lock().unwrap(), vec![true]);
}

#[test]
fn framing_errors() {
    let fake = Arc::new(Fake::default());
    let mut dev = Device::new(fake.clone());
    let cid = init(&mut dev);
    // Unallocated channel, channel 0, unknown command.
    assert_eq!(
        message(&dev.on_report(&fragment(0x1234, cmd::PING, &[1])[0])),
        (cmd::ERROR, vec![err::INVALID_CHANNEL])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(0, cmd::INIT, &[0; 8])[0])),
        (cmd::ERROR, vec![err::INVALID_CHANNEL])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(cid, 0x55, &[])[0])),
        (cmd::ERROR, vec![err::INVALID_CMD])
    );
    // CTAP1 is off (NMSG), INIT must carry 8 bytes, CBOR needs a command byte.
    assert_eq!(
        message(&dev.on_report(&fragment(cid, cmd::MSG, &[0, 3, 0, 0])[0])),
        (cmd::ERROR, vec![err::INVALID_CMD])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(BROADCAST_CID, cmd::INIT, &[1; 4])[0])),
        (cmd::ERROR, vec![err::INVALID_LEN])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(cid, cmd::CBOR, &[])[0])),
        (cmd::ERROR, vec![err::INVALID_LEN])
    );
    // Out-of-order continuation.
    let reports = fragment(cid, cmd::PING, &[7; 200]);
    dev.on_report(&reports[0]);
    assert_eq!(
        message(&dev.on_report(&reports[2])),
        (cmd::ERROR, vec![err::INVALID_SEQ])
    );
    // A message whose packets keep coming is taken however long it takes in all (a busy
    // machine); one that stops arriving times out.
    let three = fragment(cid, cmd::PING, &[7; 150]);
    assert_eq!(three.len(), 3);
    dev.on_report(&three[0]);
    std::thread::sleep(TRANSACTION_TIMEOUT * 3 / 4);
    assert!(dev.poll().is_empty());
    assert!(dev.on_report(&three[1]).is_empty());
    std::thread::sleep(TRANSACTION_TIMEOUT * 3 / 4);
    assert!(dev.poll().is_empty());
    assert_eq!(
        message(&dev.on_report(&three[2])),
        (cmd::PING, vec![7; 150])
    );
    dev.on_report(&reports[0]);
    std::thread::sleep(TRANSACTION_TIMEOUT + Duration::from_millis(50));
    assert_eq!(message(&dev.poll()), (cmd::ERROR, vec![err::MSG_TIMEOUT]));
    // The backend busy with another device.
    fake.busy.store(true, Ordering::SeqCst);
    assert_eq!(
        message(&dev.on_report(&fragment(cid, cmd::CBOR, &[4])[0])),
        (cmd::ERROR, vec![err::CHANNEL_BUSY])
    );
    // Reports of the wrong size are ignored.
    assert!(dev.on_report(&[0u8; 63]).is_empty());
}

#[test]
fn lock_keeps_other_channels_out() {
    let mut dev = Device::new(Arc::new(Fake::default()));
    let a = init(&mut dev);
    let b = init(&mut dev);
    assert_eq!(
        message(&dev.on_report(&fragment(a, cmd::LOCK, &[2])[0])),
        (cmd::LOCK, vec![])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(b, cmd::PING, &[1])[0])),
        (cmd::ERROR, vec![err::CHANNEL_BUSY])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(a, cmd::PING, &[1])[0])),
        (cmd::PING, vec![1])
    );
    assert_eq!(
        message(&dev.on_report(&fragment(a, cmd::LOCK, &[11])[0])),
        (cmd::ERROR, vec![err::INVALID_PAR])
    );
    dev.on_report(&fragment(a, cmd::LOCK, &[0])[0]);
    assert_eq!(
        message(&dev.on_report(&fragment(b, cmd::PING, &[1])[0])),
        (cmd::PING, vec![1])
    );
}

#[test]
fn an_init_flood_stays_bounded_and_keeps_the_busy_channel() {
    let fake = Arc::new(Fake {
        delay_ms: 400,
        ..Default::default()
    });
    let mut dev = Device::new(fake);
    let worker = init(&mut dev);
    dev.on_report(&fragment(worker, cmd::CBOR, &[1, 2])[0]);
    let idle = init(&mut dev);
    for _ in 0..10_000 {
        init(&mut dev);
        assert!(dev.channel_count() <= MAX_CHANNELS);
    }
    assert_eq!(dev.channel_count(), MAX_CHANNELS);
    // The channel with a request in flight still gets its answer.
    let out = collect(&mut dev, Vec::new());
    assert_eq!(message(&out), (cmd::CBOR, vec![2, 1]));
    let next = dev.on_report(&fragment(worker, cmd::PING, &[3])[0]);
    assert_eq!(
        message(&next),
        (cmd::PING, vec![3]),
        "the worker keeps its channel"
    );
    // The idle one was pushed out and is told so; it allocates again and works.
    let gone = dev.on_report(&fragment(idle, cmd::PING, &[9])[0]);
    assert_eq!(message(&gone), (cmd::ERROR, vec![err::INVALID_CHANNEL]));
    let again = init(&mut dev);
    let pong = dev.on_report(&fragment(again, cmd::PING, &[9])[0]);
    assert_eq!(message(&pong), (cmd::PING, vec![9]));
}

#[test]
fn an_init_flood_does_not_take_a_locked_device() {
    let mut dev = Device::new(Arc::new(Fake::default()));
    let holder = init(&mut dev);
    let ok = dev.on_report(&fragment(holder, cmd::LOCK, &[5])[0]);
    assert_eq!(message(&ok), (cmd::LOCK, vec![]));
    for _ in 0..(MAX_CHANNELS * 4) {
        init(&mut dev);
    }
    let pong = dev.on_report(&fragment(holder, cmd::PING, &[7])[0]);
    assert_eq!(
        message(&pong),
        (cmd::PING, vec![7]),
        "the lock holder keeps its channel"
    );
}
