//! Malformed and mutated requests, many thousands of them, from a fixed seed: the engine
//! answers each with a status (never a panic), and the credential made first is still
//! there and still signs afterwards.
use ciborium::value::Value;

use crate::harness::{platform::*, *};
use tpm_passkey_core::Refusal;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

#[test]
fn mutated_requests_never_panic_and_lose_nothing() {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    e.approver_mut().pin = Some("1234".into());
    let r = call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).unwrap();
    let (id, key, _) = check_attestation(&r);
    // Every prompt from here on is denied, so no mutated request can reset or register.
    e.approver_mut().answers = std::iter::repeat_n(Err(Refusal::Denied), 100_000).collect();

    let s = agree(&mut e, 2);
    let seeds: Vec<Vec<u8>> = vec![
        [vec![0x01], encode(&mc("example.com", 2, true, vec![]))].concat(),
        [vec![0x02], encode(&ga("example.com", &[&id], vec![]))].concat(),
        // (getPinToken is left out: every garbled pinHashEnc is a wrong PIN, which the key
        // store counts, as it must.)
        [vec![0x06], encode(&cbor!({ 1 => 2, 2 => 3, 3 => s.cose(), 4 => bytes(&[0; 32]), 5 => bytes(&[0; 80]) }).unwrap())].concat(),
        [vec![0x0a], encode(&cbor!({ 1 => 4, 2 => { 1 => bytes(&[0; 32]) }, 3 => 2, 4 => bytes(&[0; 32]) }).unwrap())].concat(),
        [vec![0x0d], encode(&cbor!({ 1 => 3, 2 => { 1 => 8 }, 3 => 2, 4 => bytes(&[0; 32]) }).unwrap())].concat(),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for i in 0..20_000 {
        let mut msg = seeds[i % seeds.len()].clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(msg.len());
                msg[at] ^= 1 << rng.below(8);
            }
            1 => msg.truncate(rng.below(msg.len()) + 1),
            2 => {
                let at = rng.below(msg.len());
                msg[at] = rng.next() as u8;
                msg.push(rng.next() as u8);
            }
            _ => {
                let n = rng.below(64);
                msg = (0..n).map(|_| rng.next() as u8).collect();
                if !msg.is_empty() {
                    msg[0] = [0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0a, 0x0b, 0x0d][rng.below(9)];
                }
            }
        }
        let out = e.process(&msg);
        assert!(!out.is_empty(), "a status byte for every request");
        if out[0] == 0 && out.len() > 1 {
            tpm_passkey_core::wire::cbor::decode(&out[1..]).expect("success bodies are CBOR");
        }
    }
    assert_eq!(e.store().credential_count().unwrap(), 1);
    e.approver_mut().answers.clear();
    // All those denials started the fatigue defence's cool-down; the person lifts it.
    e.lift_cooldowns_local(Some(&tpm_passkey_core::ipc::Pin::new("1234".into())))
        .unwrap();
    let r = call(&mut e, 0x02, Some(ga("example.com", &[&id], vec![]))).unwrap();
    check_assertion(&r, &key);
}
