//! Firefox's CTAP stack against tpm-passkey, as the kernel-path test runs it in the VM:
//! Mozilla's `authenticator` crate (what Firefox itself links) finds the uhid device through
//! libudev and /dev/hidraw, then
//!
//! 1. registers a discoverable credential with user verification required (built-in UV:
//!    the approval agent types the PIN; the client shows no PIN dialog),
//! 2. signs in with an allowList naming it,
//! 3. signs in with an empty allowList (the authenticator finds the account),
//! 4. registers again with the credential in the excludeList: refused.
//!
//! Each step prints `ok <step>`; any failure exits non-zero with the reason.
#![forbid(unsafe_code)]

use std::sync::mpsc::channel;
use std::time::Duration;

use authenticator::authenticatorservice::{AuthenticatorService, RegisterArgs, SignArgs};
use authenticator::crypto::COSEAlgorithm;
use authenticator::ctap2::server::{
    AuthenticationExtensionsClientInputs, PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters, PublicKeyCredentialUserEntity, RelyingParty,
    ResidentKeyRequirement, Transport, UserVerificationRequirement,
};
use authenticator::errors::AuthenticatorError;
use authenticator::statecallback::StateCallback;
use authenticator::{GetAssertionResult, StatusPinUv, StatusUpdate};

const RP: &str = "mozilla.example";
const TIMEOUT_MS: u64 = 30_000;
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;

type Outcome<T> = Result<T, String>;

fn service() -> AuthenticatorService {
    let mut s = AuthenticatorService::new().expect("the authenticator service starts");
    s.add_u2f_usb_hid_platform_transports();
    s
}

/// Watches the status updates: a PIN request means the client would have shown Firefox's PIN
/// dialog, which built-in UV must make unnecessary.
fn status() -> std::sync::mpsc::Sender<StatusUpdate> {
    let (tx, rx) = channel::<StatusUpdate>();
    std::thread::spawn(move || {
        while let Ok(update) = rx.recv() {
            if let StatusUpdate::PinUvError(StatusPinUv::PinRequired(_)) = update {
                eprintln!(
                    "FAIL: the client was asked for a PIN (Firefox would show its PIN dialog)"
                );
                std::process::exit(3);
            }
        }
    });
    tx
}

fn register(
    svc: &mut AuthenticatorService,
    exclude: Vec<PublicKeyCredentialDescriptor>,
) -> Result<Vec<u8>, AuthenticatorError> {
    let args = RegisterArgs {
        client_data_hash: [7; 32],
        relying_party: RelyingParty {
            id: RP.into(),
            name: Some("Mozilla example".into()),
        },
        origin: format!("https://{RP}"),
        user: PublicKeyCredentialUserEntity {
            id: b"mozilla-user".to_vec(),
            name: Some("moz".into()),
            display_name: Some("Moz".into()),
        },
        pub_cred_params: vec![PublicKeyCredentialParameters {
            alg: COSEAlgorithm::ES256,
        }],
        exclude_list: exclude,
        user_verification_req: UserVerificationRequirement::Required,
        resident_key_req: ResidentKeyRequirement::Required,
        extensions: AuthenticationExtensionsClientInputs {
            cred_props: Some(true),
            ..Default::default()
        },
        pin: None,
        use_ctap1_fallback: false,
    };
    let (tx, rx) = channel();
    let cb = StateCallback::new(Box::new(move |rv| {
        let _ = tx.send(rv);
    }));
    svc.register(TIMEOUT_MS, args, status(), cb)?;
    let made = rx
        .recv_timeout(Duration::from_millis(TIMEOUT_MS + 5_000))
        .map_err(|_| AuthenticatorError::Custom("no answer".into()))??;
    let auth = made.att_obj.auth_data;
    let flags = auth.flags.bits();
    if flags & (USER_PRESENT | USER_VERIFIED) != USER_PRESENT | USER_VERIFIED {
        return Err(AuthenticatorError::Custom(format!("flags {flags:#04x}")));
    }
    auth.credential_data
        .map(|c| c.credential_id)
        .ok_or_else(|| AuthenticatorError::Custom("no attested credential".into()))
}

fn sign(
    svc: &mut AuthenticatorService,
    allow: Vec<PublicKeyCredentialDescriptor>,
) -> Outcome<GetAssertionResult> {
    let args = SignArgs {
        client_data_hash: [9; 32],
        origin: format!("https://{RP}"),
        relying_party_id: RP.into(),
        allow_list: allow,
        user_verification_req: UserVerificationRequirement::Required,
        user_presence_req: true,
        extensions: AuthenticationExtensionsClientInputs::default(),
        pin: None,
        use_ctap1_fallback: false,
    };
    let (tx, rx) = channel();
    let cb = StateCallback::new(Box::new(move |rv| {
        let _ = tx.send(rv);
    }));
    svc.sign(TIMEOUT_MS, args, status(), cb)
        .map_err(|e| format!("{e}"))?;
    let got = rx
        .recv_timeout(Duration::from_millis(TIMEOUT_MS + 5_000))
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let flags = got.assertion.auth_data.flags.bits();
    if flags & (USER_PRESENT | USER_VERIFIED) != USER_PRESENT | USER_VERIFIED {
        return Err(format!("assertion flags {flags:#04x}"));
    }
    if got.assertion.signature.is_empty() {
        return Err("no signature".into());
    }
    Ok(got)
}

fn run() -> Outcome<()> {
    let mut svc = service();
    let id = register(&mut svc, Vec::new()).map_err(|e| format!("register: {e:?}"))?;
    println!("ok register");
    let descriptor = PublicKeyCredentialDescriptor {
        id: id.clone(),
        transports: vec![Transport::USB],
    };
    let got = sign(&mut svc, vec![descriptor.clone()])?;
    if got.assertion.credentials.map(|c| c.id) != Some(id.clone()) {
        return Err("sign-in with the allowList used another credential".into());
    }
    println!("ok sign-in-allow-list");
    let got = sign(&mut svc, Vec::new())?;
    let user = got.assertion.user.map(|u| u.id);
    if user.as_deref() != Some(b"mozilla-user".as_slice()) {
        return Err(format!("discoverable sign-in: user {user:?}"));
    }
    println!("ok sign-in-discoverable");
    match register(&mut svc, vec![descriptor]) {
        Err(AuthenticatorError::CredentialExcluded) => println!("ok exclude-list"),
        other => return Err(format!("excludeList: {other:?}")),
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("FAIL: {e}");
        std::process::exit(1);
    }
}
