//! Sequences of requests into the engine (soft key store, in-memory store, an approver that
//! approves and types a PIN), to reach deep state: the input is split on 0xFF 0xFF into
//! messages. Every message must get a status; success bodies must be CBOR.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tpm_passkey_core::{Approver, Engine, PinHash, Prompt, Refusal, Store};
use tpm_passkey_testkit::SoftKeys;

struct Yes;

impl Approver for Yes {
    fn ask(&mut self, p: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Ok(p.pin_required.then(|| PinHash::from_pin("1234")))
    }
}

fuzz_target!(|data: &[u8]| {
    let store = Store::open_in_memory().expect("in-memory store");
    let mut engine = Engine::new(SoftKeys::new(), Yes, store).expect("engine");
    for msg in data
        .split(|&b| b == 0xff)
        .filter(|m| !m.is_empty())
        .take(16)
    {
        let out = engine.process(msg);
        assert!(!out.is_empty());
        if out[0] == 0 && out.len() > 1 {
            tpm_passkey_core::wire::cbor::decode(&out[1..]).expect("CBOR body");
        }
        let _ = engine.process_u2f(msg);
    }
});
