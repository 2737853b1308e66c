//! The engine's answer wakes the transport (issue 22): a CBOR request to a stub engine that
//! answers within a millisecond is answered through each transport in a few milliseconds —
//! far below the keepalive period (100 ms), which is the only timer a running request has,
//! and below the 20 ms poll that used to be in every command's time. Through the socket
//! transport and through the uhid transport's helper link (the test plays the helper).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};
use tpm_passkey_hid::{
    socket::SocketTransport, uhid::Target, uhid::UhidTransport, Backend, Job, MessageKind, Origin,
    Reply, Wake, REPORT_LEN,
};
use tpm_passkey_wire::ctaphid::{capability, cmd, fragment, Packet, BROADCAST_CID};

/// Answers every CBOR request with its payload reversed, from another thread, 1 ms later.
struct Stub;

impl Backend for Stub {
    fn submit(&self, _: MessageKind, payload: Vec<u8>, _: Origin, wake: Wake) -> Option<Job> {
        let (reply, rx) = Reply::channel(wake);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            let mut r = payload;
            r.reverse();
            reply.send(r);
        });
        Some(Job {
            reply: rx,
            status: Arc::new(AtomicU8::new(0)),
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    fn capabilities(&self) -> u8 {
        capability::CBOR
    }
}

fn send(s: &mut Socket, report: &[u8; REPORT_LEN]) {
    s.write_all(report).unwrap();
}

fn recv(s: &mut Socket) -> [u8; REPORT_LEN] {
    let mut b = [0u8; REPORT_LEN];
    assert_eq!(s.read(&mut b).unwrap(), REPORT_LEN);
    b
}

/// INIT, then `rounds` CBOR requests; each one's time from the last report sent to the
/// answer's first report, sorted.
fn round_trips(s: &mut Socket, rounds: usize) -> Vec<Duration> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    send(s, &fragment(BROADCAST_CID, cmd::INIT, &[9; 8])[0]);
    let answer = recv(s);
    let Some(Packet::Init { data, .. }) = Packet::parse(&answer) else {
        panic!("no INIT answer")
    };
    let cid = u32::from_be_bytes(data[8..12].try_into().unwrap());
    let mut times = Vec::new();
    for i in 0..rounds {
        let payload = vec![4, i as u8, 7];
        for r in &fragment(cid, cmd::CBOR, &payload) {
            send(s, r);
        }
        let t = Instant::now();
        loop {
            let answer = recv(s);
            match Packet::parse(&answer) {
                Some(Packet::Init { cmd: c, data, .. }) if c == cmd::CBOR => {
                    assert_eq!(&data[..3], &[7, i as u8, 4]);
                    break;
                }
                Some(Packet::Init { cmd: c, .. }) if c == cmd::KEEPALIVE => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
        times.push(t.elapsed());
    }
    times.sort();
    times
}

fn assert_prompt(times: &[Duration]) {
    let median = times[times.len() / 2];
    assert!(
        median < Duration::from_millis(5),
        "median {median:?}: {times:?}"
    );
    // Even the slowest is far from the keepalive period it would have waited for.
    assert!(
        times[times.len() - 1] < Duration::from_millis(60),
        "{times:?}"
    );
}

#[test]
fn the_socket_transport_answers_when_the_engine_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hid.sock");
    let _t = SocketTransport::serve(&path, Arc::new(Stub)).unwrap();
    let mut s = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    s.connect(&SockAddr::unix(&path).unwrap()).unwrap();
    assert_prompt(&round_trips(&mut s, 30));
}

#[test]
fn the_uhid_transport_answers_when_the_engine_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("helper.sock");
    // The privileged helper's side: it relays 64-byte reports both ways.
    let helper = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    helper.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    helper.listen(1).unwrap();
    let _t = UhidTransport::serve(&Target::Helper(path), Arc::new(Stub)).unwrap();
    let (mut s, _) = helper.accept().unwrap();
    assert_prompt(&round_trips(&mut s, 30));
}
