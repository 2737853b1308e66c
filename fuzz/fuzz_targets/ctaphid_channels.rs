//! Arbitrary 64-byte reports, on a handful of channels, into the CTAPHID device state
//! machine (`tpm_passkey_hid::Device`) with a backend that answers at once. Every answer
//! must be a well-formed report, and the channel table stays bounded. The first byte of each
//! 65-byte chunk picks the channel (broadcast, or one of the channels INIT allocated), so
//! the fuzzer can interleave messages, CANCELs and LOCKs across channels.
#![no_main]
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tpm_passkey_hid::{
    Backend, Device, Job, MessageKind, Origin, Reply, Wake, MAX_CHANNELS, REPORT_LEN,
};
use tpm_passkey_wire::ctaphid::{cmd, Packet, BROADCAST_CID};

struct Echo;

impl Backend for Echo {
    fn submit(
        &self,
        _kind: MessageKind,
        mut payload: Vec<u8>,
        _origin: Origin,
        wake: Wake,
    ) -> Option<Job> {
        let (tx, rx) = Reply::channel(wake);
        payload.reverse();
        tx.send(payload);
        Some(Job {
            reply: rx,
            status: Arc::new(AtomicU8::new(1)),
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    fn capabilities(&self) -> u8 {
        0x0D
    }
}

fn check(out: &[[u8; REPORT_LEN]]) -> Vec<u32> {
    let mut allocated = Vec::new();
    for r in out {
        match Packet::parse(r) {
            Some(Packet::Init {
                cid, cmd: c, data, ..
            }) => {
                // INIT answers on the broadcast channel carry the new channel id.
                if cid == BROADCAST_CID && c == cmd::INIT && data.len() >= 12 {
                    allocated.push(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
                }
            }
            Some(Packet::Cont { .. }) => {}
            None => panic!("the device sent a malformed report"),
        }
    }
    allocated
}

fuzz_target!(|data: &[u8]| {
    let mut dev = Device::new(Arc::new(Echo));
    let mut channels = vec![BROADCAST_CID];
    for chunk in data.chunks(REPORT_LEN + 1).take(256) {
        let (pick, body) = chunk.split_first().unwrap_or((&0, &[]));
        let mut report = [0u8; REPORT_LEN];
        report[..body.len()].copy_from_slice(body);
        if body.len() >= 4 && pick & 0x80 != 0 {
            // Keep the fuzzer's own channel id in the report.
        } else {
            let cid = channels[usize::from(*pick) % channels.len()];
            report[..4].copy_from_slice(&cid.to_be_bytes());
        }
        channels.extend(check(&dev.on_report(&report)));
        channels.extend(check(&dev.poll()));
        assert!(dev.channel_count() <= MAX_CHANNELS);
    }
});
