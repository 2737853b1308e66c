//! Raw bytes into the CTAP2 request parser: any input gives a request or a status.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tpm_passkey_wire::ctap2::Request::parse(data);
    let _ = tpm_passkey_wire::cbor::decode(data);
});
