//! Split then reassemble is the identity for every payload a 64-byte transport can carry,
//! and arbitrary reports never panic the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tpm_passkey_wire::ctaphid::{fragment, Packet, Reassembly, MAX_MESSAGE};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 64 {
        let _ = Packet::parse(&data[..64]);
    }
    let payload = &data[..data.len().min(MAX_MESSAGE)];
    let reports = fragment(0x0102_0304, 0x10, payload);
    let Some(Packet::Init {
        cid,
        cmd,
        len,
        data: first,
    }) = Packet::parse(&reports[0])
    else {
        panic!("first report is not an init packet")
    };
    let mut m = Reassembly::start(cid, cmd, len, first).expect("valid length");
    for r in &reports[1..] {
        let Some(Packet::Cont { seq, data, .. }) = Packet::parse(r) else {
            panic!("not a continuation")
        };
        m.push(seq, data).expect("in sequence");
    }
    assert!(m.is_complete());
    assert_eq!(m.into_payload(), payload);
});
