//! The store's rollback seal on a real TPM (docs/DESIGN.md "Rollback seal"): the counter
//! and the MAC key are the TPM's. The owner deletes the counter — a denial of service the
//! seal reports — and the person's --accept-restored-store makes a new one.
#![allow(clippy::unwrap_used)]
mod common;

use common::attacker::Attacker;
use common::Fixture;
use tpm_passkey_core::{Approver, Engine, Prompt, Refusal, Sealing, Store, StoreError};
use tpm_passkey_tpm::{PinHash, TpmKeyStore};
use tss_esapi::interface_types::{resource_handles::Provision, session_handles::AuthSession};

struct Yes;
impl Approver for Yes {
    fn ask(&mut self, _: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Ok(None)
    }
}

fn open(f: &Fixture, path: &std::path::Path) -> Result<Engine<TpmKeyStore, Yes>, StoreError> {
    let store = Store::open(path).unwrap();
    let state = Engine::<TpmKeyStore, Yes>::saved_key_store_state(&store).unwrap();
    let keys = TpmKeyStore::open(&f.swtpm.tcti(), None, state.as_ref()).unwrap();
    Engine::new(keys, Yes, store)
}

#[test]
fn the_tpm_counter_seals_the_store_and_its_loss_is_reported() {
    let f = Fixture::new();
    let path = f.dir.path().join("store.sqlite");
    let mut e = open(&f, &path).unwrap();
    let sealed = e.store().seal().unwrap().unwrap().0;
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(sealed));
    e.set_settings_local(None, Some(6), None).unwrap();
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(sealed + 1));
    drop(e);
    // Opened again: the seal verifies with the TPM's own MAC key and counter.
    let e = open(&f, &path).unwrap();
    assert_eq!(e.settings().min_pin_length, 6);
    drop(e);
    // The owner deletes the counter: refused, not silently re-made.
    let store = Store::open(&path).unwrap();
    let state = Engine::<TpmKeyStore, Yes>::saved_key_store_state(&store).unwrap();
    let handle = {
        let ks = TpmKeyStore::open(&f.swtpm.tcti(), None, state.as_ref()).unwrap();
        ks.counter_handle().unwrap()
    };
    drop(store);
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let nv = a.nv(handle);
    a.ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_undefine_space(Provision::Owner, nv)
        })
        .unwrap();
    drop(a);
    assert!(matches!(open(&f, &path), Err(StoreError::SealBroken(_))));
    // The person accepts the store: a new counter, sealed anew, and it opens.
    let mut store = Store::open(&path).unwrap();
    let state = Engine::<TpmKeyStore, Yes>::saved_key_store_state(&store).unwrap();
    let mut keys = TpmKeyStore::open(&f.swtpm.tcti(), None, state.as_ref()).unwrap();
    keys.renew_lost_indexes().unwrap();
    assert_ne!(
        keys.counter_handle(),
        Some(handle),
        "a new counter, elsewhere"
    );
    Engine::<TpmKeyStore, Yes>::accept_store(&mut keys, &mut store).unwrap();
    drop((keys, store));
    let e = open(&f, &path).unwrap();
    assert_eq!(e.settings().min_pin_length, 6);
}
