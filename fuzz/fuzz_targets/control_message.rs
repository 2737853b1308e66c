//! The control-socket message parser (`tpm_passkey_ipc`): bounded line reading, then JSON
//! into `ClientMessage`. Arbitrary bytes never panic; a message that parses encodes back to
//! a line that parses to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tpm_passkey_ipc::{decode, encode, read_line_bounded, ClientMessage};

fuzz_target!(|data: &[u8]| {
    let mut reader = std::io::BufReader::new(data);
    let mut line = String::new();
    for _ in 0..8 {
        line.clear();
        match read_line_bounded(&mut reader, &mut line, 4096) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Ok(msg) = decode::<ClientMessage>(&line) {
            let again: ClientMessage = decode(&encode(&msg)).expect("re-encoded message parses");
            assert_eq!(again, msg);
        }
    }
});
