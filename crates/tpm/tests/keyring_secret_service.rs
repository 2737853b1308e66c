//! The owner password against a real Secret Service (gnome-keyring under
//! dbus-run-session). Ignored by default: .ci/run runs it inside such a session with
//! `--run-ignored only`.
#![allow(clippy::unwrap_used)]
use tpm_passkey_tpm::{OwnerAuth, OwnerAuthStore};

#[test]
#[ignore = "needs a Secret Service (run by .ci/run under dbus-run-session + gnome-keyring)"]
fn secret_service_round_trip() {
    let store = OwnerAuthStore::secret_service().expect("Secret Service reachable");
    store.clear().unwrap();
    assert!(store.load().unwrap().is_none());
    store
        .save(&OwnerAuth::new(b"owner pw \x00\xff".to_vec()))
        .unwrap();
    assert_eq!(
        store.load().unwrap().unwrap().expose_secret_bytes(),
        b"owner pw \x00\xff"
    );
    store.clear().unwrap();
    assert!(store.load().unwrap().is_none());
}
