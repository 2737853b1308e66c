//! The PIN, enforced by the TPM's PIN Fail index, on a real swtpm.
#![allow(clippy::unwrap_used)]
mod common;

use common::{digest, Fixture};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use tpm_passkey_tpm::{
    policy_change_auth_digest, Error, KeyAuth, PinHash, PinRetries, Protection, PIN_LIMIT,
};

fn retries(left: u32) -> PinRetries {
    PinRetries {
        remaining: left,
        limit: PIN_LIMIT,
    }
}

#[test]
fn pin_bound_key_signs_only_with_the_right_pin() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("246810");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(8));
    let key = tpm.create_key(Some(&index)).unwrap();
    assert!(matches!(key.blob.protection(), Protection::Pin { .. }));
    let d = digest(b"login");

    let sig = tpm.sign(&key.blob, &d, KeyAuth::pin(&index, &pin)).unwrap();
    key.public.verify_prehash(&d, &sig).unwrap();

    // Missing PIN: the TPM refuses (userWithAuth is clear); no attempt was made on the
    // PIN index, so the counter does not move.
    assert!(matches!(
        tpm.sign(&key.blob, &d, KeyAuth::None),
        Err(Error::PinRequired)
    ));
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(8));

    // Wrong PIN: refused by the TPM, and the TPM counts it.
    let wrong = PinHash::from_pin("000000");
    let err = tpm
        .sign(&key.blob, &d, KeyAuth::pin(&index, &wrong))
        .unwrap_err();
    assert!(matches!(err, Error::WrongPin), "{err}");
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(7));
    assert!(tpm.verify_pin(&index, &wrong).is_err());
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(6));

    // The right PIN resets the counter.
    tpm.sign(&key.blob, &d, KeyAuth::pin(&index, &pin)).unwrap();
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(8));

    // None of this touched the TPM-wide dictionary-attack counter.
    let da = tpm.da_state().unwrap();
    assert_eq!((da.counter, da.in_lockout), (0, false));
}

#[test]
fn at_the_limit_even_the_right_pin_is_refused() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("135790");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    let key = tpm.create_key(Some(&index)).unwrap();
    let wrong = PinHash::from_pin("999999");
    for left in (0..PIN_LIMIT).rev() {
        assert!(matches!(
            tpm.verify_pin(&index, &wrong),
            Err(Error::WrongPin)
        ));
        assert_eq!(tpm.pin_retries(&index).unwrap(), retries(left));
    }
    assert!(matches!(
        tpm.verify_pin(&index, &pin),
        Err(Error::PinBlocked)
    ));
    let err = tpm
        .sign(&key.blob, &digest(b"x"), KeyAuth::pin(&index, &pin))
        .unwrap_err();
    assert!(matches!(err, Error::PinBlocked), "{err}");
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(0));
    let da = tpm.da_state().unwrap();
    assert_eq!(
        (da.counter, da.in_lockout),
        (0, false),
        "PIN failures must not feed the TPM-wide DA counter"
    );
}

#[test]
fn pin_change_keeps_old_keys_with_the_new_pin_only() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let (old, new) = (PinHash::from_pin("111111"), PinHash::from_pin("222222"));
    let index = tpm.define_pin_index(None, &old).unwrap();
    let key = tpm.create_key(Some(&index)).unwrap();
    let d = digest(b"after change");

    // The change itself needs the old PIN, checked (and counted) by the TPM.
    let err = tpm.change_pin(&index, &new, &new).unwrap_err();
    assert!(matches!(err, Error::WrongPin), "{err}");
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(7));

    tpm.change_pin(&index, &old, &new).unwrap();
    let reopened = tpm.open_pin_index(&index).unwrap();
    assert_eq!(
        reopened, index,
        "the Name (and so every key policy) is unchanged"
    );
    assert_eq!(tpm.pin_retries(&index).unwrap(), retries(8));

    let sig = tpm.sign(&key.blob, &d, KeyAuth::pin(&index, &new)).unwrap();
    key.public.verify_prehash(&d, &sig).unwrap();
    assert!(matches!(
        tpm.sign(&key.blob, &d, KeyAuth::pin(&index, &old)),
        Err(Error::WrongPin)
    ));
}

#[test]
fn pin_index_survives_reconnection_and_undefine_removes_it() {
    let f = Fixture::new();
    let pin = PinHash::from_pin("314159");
    let (record, blob) = {
        let mut tpm = f.tpm();
        let index = tpm.define_pin_index(None, &pin).unwrap();
        (
            index.to_record(),
            tpm.create_key(Some(&index)).unwrap().blob,
        )
    };
    let mut tpm = f.tpm();
    let saved = tpm_passkey_tpm::PinIndex::from_record(&record).unwrap();
    let handle = saved.handle();
    let index = tpm.open_pin_index(&saved).unwrap();
    let d = digest(b"again");
    tpm.sign(&blob, &d, KeyAuth::pin(&index, &pin)).unwrap();
    tpm.undefine_pin_index(index.clone()).unwrap();
    assert!(matches!(tpm.open_pin_index(&saved), Err(Error::NoPinIndex(h)) if h == handle));
    assert!(tpm.sign(&blob, &d, KeyAuth::pin(&index, &pin)).is_err());
}

#[test]
fn a_second_index_at_the_same_handle_is_refused() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("1234");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    let err = tpm
        .define_pin_index(Some(index.handle()), &pin)
        .unwrap_err();
    assert!(
        matches!(err, Error::IndexInUse(h) if h == index.handle()),
        "{err}"
    );
}

#[test]
fn a_key_bound_to_another_index_is_refused() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("5555");
    let a = tpm.define_pin_index(None, &pin).unwrap();
    let b = tpm.define_pin_index(None, &pin).unwrap();
    let key = tpm.create_key(Some(&a)).unwrap();
    let err = tpm
        .sign(&key.blob, &digest(b"x"), KeyAuth::pin(&b, &pin))
        .unwrap_err();
    assert!(matches!(err, Error::BadBlob(_)), "{err}");
}

#[test]
fn software_policy_digest_matches_the_tpm() {
    use tss_esapi::{
        constants::{CommandCode, SessionType},
        interface_types::{algorithm::HashingAlgorithm, session_handles::PolicySession},
        structures::SymmetricDefinition,
        Context,
    };
    // Run PolicyCommandCode(NV_ChangeAuth) + PolicyAuthValue in a real session of the same
    // swtpm and compare the TPM's digest with ours: the index's authPolicy must be the one
    // a future NV_ChangeAuth will satisfy.
    let f = Fixture::new();
    let conf = f.swtpm.tcti().as_str().parse().unwrap();
    let mut ctx = Context::new(conf).unwrap();
    let s = ctx
        .start_auth_session(
            None,
            None,
            None,
            SessionType::Policy,
            SymmetricDefinition::Null,
            HashingAlgorithm::Sha256,
        )
        .unwrap()
        .unwrap();
    let p = PolicySession::try_from(s).unwrap();
    ctx.policy_command_code(p, CommandCode::NvChangeAuth)
        .unwrap();
    ctx.policy_auth_value(p).unwrap();
    let d = ctx.policy_get_digest(p).unwrap();
    assert_eq!(d.value(), policy_change_auth_digest());
}

/// The saved record of a sealed index is checked against the TPM: an edited Name or an
/// edited policy part (say, another approver key) is refused.
#[test]
fn an_edited_index_record_is_refused() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let index = tpm
        .define_pin_index(None, &PinHash::from_pin("1357"))
        .unwrap();
    let record = index.to_record();
    // kind (1) ‖ handle (4) ‖ name length (1) ‖ name (34) ‖ write branch (32) ‖ approver …
    for at in [8, 6 + 34 + 5, 6 + 34 + 32 + 5, record.len() - 3] {
        let mut edited = record.clone();
        edited[at] ^= 0x40;
        let Ok(parsed) = tpm_passkey_tpm::PinIndex::from_record(&edited) else {
            continue;
        };
        let e = tpm.open_pin_index(&parsed).unwrap_err();
        assert!(
            matches!(e, Error::PinIndexMismatch { .. }),
            "byte {at}: {e}"
        );
    }
    assert_eq!(
        tpm.open_pin_index(&tpm_passkey_tpm::PinIndex::from_record(&record).unwrap())
            .unwrap(),
        index
    );
}
