//! Raw bytes into the U2F APDU parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tpm_passkey_wire::u2f::parse(data);
});
