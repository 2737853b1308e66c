//! No secret crosses the TPM bus: every byte between this crate and the TPM is recorded
//! by a proxy, and neither the pinHash nor the owner password may appear in it.
#![allow(clippy::unwrap_used)]
mod common;

use common::{digest, tap::Tap, Fixture};
use tpm_passkey_tpm::{KeyAuth, OwnerAuth, PinHash, RootSeed, Tpm};
use tss_esapi::{
    handles::AuthHandle, interface_types::session_handles::AuthSession, structures::Auth, Context,
};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn pin_and_owner_password_never_appear_on_the_bus() {
    let f = Fixture::new();
    let owner_pw = b"Owner-Password-From-IT".to_vec();
    {
        let mut ctx = Context::new(f.swtpm.tcti().as_str().parse().unwrap()).unwrap();
        ctx.execute_with_nullauth_session(|c| {
            c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(owner_pw.clone())?)
        })
        .unwrap();
    }
    let tap = Tap::new(f.swtpm.port());
    let (old, new) = (PinHash::from_pin("271828"), PinHash::from_pin("161803"));
    let mut cred_randoms = Vec::new();
    {
        let owner = OwnerAuth::new(owner_pw.clone());
        let mut tpm = Tpm::open(&tap.tcti(), &RootSeed::from_bytes(f.seed), Some(&owner)).unwrap();
        let index = tpm.define_pin_index(None, &old).unwrap();
        let key = tpm.create_key(Some(&index)).unwrap();
        tpm.verify_pin(&index, &old).unwrap();
        tpm.sign(&key.blob, &digest(b"m"), KeyAuth::pin(&index, &old))
            .unwrap();
        tpm.change_pin(&index, &old, &new).unwrap();
        tpm.sign(&key.blob, &digest(b"m"), KeyAuth::pin(&index, &new))
            .unwrap();
        tpm.pin_retries(&index).unwrap();
        // hmac-secret: CredRandom leaves the TPM encrypted, with and without UV.
        let prf = tpm.create_prf_key(None).unwrap();
        cred_randoms.push(tpm.prf(&prf, b"material", KeyAuth::None).unwrap());
        let prf_uv = tpm.create_prf_key(Some(&index)).unwrap();
        cred_randoms.push(
            tpm.prf(&prf_uv, b"material", KeyAuth::pin(&index, &new))
                .unwrap(),
        );
    }
    let bytes = tap.seen();
    assert!(
        bytes.len() > 2000,
        "the capture holds the whole conversation ({} bytes)",
        bytes.len()
    );
    for (what, secret) in [
        ("old pinHash", &old.expose_secret_bytes()[..]),
        ("new pinHash", &new.expose_secret_bytes()[..]),
        ("owner password", &owner_pw[..]),
        ("CredRandom without UV", &cred_randoms[0][..]),
        ("CredRandom with UV", &cred_randoms[1][..]),
    ] {
        assert!(
            !contains(&bytes, secret),
            "{what} crossed the TPM bus in the clear"
        );
    }
}

#[test]
fn control_a_password_session_would_show_the_secret() {
    // Proves the capture above can see a secret: a plain password session sends it as is.
    let f = Fixture::new();
    let tap = Tap::new(f.swtpm.port());
    let secret = b"VisiblePassword".to_vec();
    {
        let mut ctx = Context::new(tap.tcti().as_str().parse().unwrap()).unwrap();
        ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(secret.clone()).unwrap())
        })
        .unwrap();
    }
    assert!(contains(&tap.seen(), &secret));
}
