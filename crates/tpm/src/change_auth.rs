//! TPM2_NV_ChangeAuth with the new PIN bound to the proof of the old one — the one TPM
//! command this crate marshals itself (docs/DESIGN.md "PIN change").
//!
//! The PIN change's policy session holds PolicySecret(old PIN) for a few commands before
//! NV_ChangeAuth runs (PolicyAuthorize, PolicyOR). Everything else in that policy is
//! public, so on a TPM another program can reach between our commands (swtpm, /dev/tpm0)
//! that program could finish the session and run NV_ChangeAuth with a PIN of its own.
//! PolicySecret's cpHashA stops it — if we know the command's cpHash before we prove the
//! old PIN. The new PIN travels encrypted (parameter encryption), and the cpHash covers the
//! parameter *as encrypted* (TPM 2.0 Part 1 §18.7: the TPM checks authorizations before it
//! decrypts; libtpms `ParseSessionBuffer`). ESYS draws each command's nonceCaller itself
//! and keeps its session keys to itself, so with it the ciphertext cannot be known in
//! advance. Here it can:
//!
//! 1. StartAuthSession for an HMAC session salted to the root, with a salt from an ECDH
//!    done here (Part 1 §C.6.1 / §11.4.10.3 KDFe "SECRET"): we know its sessionKey
//!    (KDFa "ATH", Part 1 §19.6.11).
//! 2. Encrypt newAuth with it (AES-128-CFB, KDFa "CFB" over our nonceCaller and its
//!    nonceTPM, Part 1 §21.3), compute cpHash(NV_ChangeAuth, index Name, that parameter).
//! 3. The caller proves the old PIN with that cpHashA and completes the policy.
//! 4. Send NV_ChangeAuth with the policy session (authorizes; continueSession clear) and
//!    ours (decrypt only; its HMAC and the response's checked here), on ESYS's own TCTI.
//!
//! Another program that completes our policy session now gets TPM_RC_POLICY_FAIL for any
//! other newAuth; the same bytes would only set our new PIN.

use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{bound, kdf, Error, PinHash, Result, Tpm};

const OP: &str = "change PIN";
const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_START_AUTH_SESSION: u32 = 0x0000_0176;
const TPM_CC_FLUSH_CONTEXT: u32 = 0x0000_0165;
const TPM_RH_NULL: u32 = 0x4000_0007;
const TPM_SE_HMAC: u8 = 0x00;
const TPM_ALG_AES: u16 = 0x0006;
const TPM_ALG_CFB: u16 = 0x0043;
const TPM_ALG_SHA256: u16 = 0x000B;
/// TPMA_SESSION bits (Part 2 §8.4).
const DECRYPT: u8 = 0x20;

/// The session this module starts and alone can use: its handle, its key, and the nonce
/// the TPM gave it last.
struct OwnSession {
    handle: u32,
    key: Zeroizing<Vec<u8>>,
    nonce_tpm: Vec<u8>,
}

/// NV_ChangeAuth's parameter, encrypted for `session`, and what binds a proof to it.
pub(crate) struct PreparedChange {
    session: OwnSession,
    nonce_caller: [u8; 32],
    /// TPM2B_AUTH newAuth as sent: size, then the ciphertext.
    parameter: Vec<u8>,
    cp_hash: [u8; 32],
}

impl std::fmt::Debug for PreparedChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedChange")
            .field("session", &format_args!("{:#010x}", self.session.handle))
            .finish_non_exhaustive()
    }
}

impl PreparedChange {
    /// The cpHashA the old PIN's PolicySecret must carry.
    pub(crate) fn cp_hash(&self) -> [u8; 32] {
        self.cp_hash
    }
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| Error::Tpm {
        op: OP,
        code: "no OS randomness".into(),
    })?;
    Ok(b)
}

fn malformed() -> Error {
    Error::Tpm {
        op: OP,
        code: "malformed TPM response".into(),
    }
}

/// A TPM2B: big-endian u16 size, then the bytes.
fn put_tpm2b(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// Reads a TPM2B at `*at`, advancing it.
fn take_tpm2b<'a>(r: &'a [u8], at: &mut usize) -> Result<&'a [u8]> {
    let size = r.get(*at..*at + 2).ok_or_else(malformed)?;
    let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
    let body = r.get(*at + 2..*at + 2 + size).ok_or_else(malformed)?;
    *at += 2 + size;
    Ok(body)
}

fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(10 + body.len());
    c.extend_from_slice(&tag.to_be_bytes());
    c.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    c.extend_from_slice(&cc.to_be_bytes());
    c.extend_from_slice(body);
    c
}

/// The response code of a response (an error when the bytes are not a response).
fn response_code(r: &[u8]) -> Result<u32> {
    if r.len() < 10 || u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize != r.len() {
        return Err(malformed());
    }
    Ok(u32::from_be_bytes([r[6], r[7], r[8], r[9]]))
}

impl Tpm {
    /// Sends a command we marshalled on this connection's TCTI; a transport failure is
    /// [`Error::Unreachable`], a TPM error code is sorted like any other.
    fn raw(&mut self, cmd: &[u8]) -> Result<Vec<u8>> {
        let r = self.ctx.raw_command(cmd).map_err(|e| Error::tss(OP, e))?;
        match response_code(&r)? {
            0 => Ok(r),
            rc => Err(Error::tss(
                OP,
                tss_esapi::Error::Tss2Error(
                    tss_esapi::constants::response_code::Tss2ResponseCode::from(rc),
                ),
            )),
        }
    }

    fn flush_raw(&mut self, handle: u32) {
        let cmd = command(
            TPM_ST_NO_SESSIONS,
            TPM_CC_FLUSH_CONTEXT,
            &handle.to_be_bytes(),
        );
        if let Err(e) = self.raw(&cmd) {
            tracing::debug!(error = %e, "could not flush a session");
        }
    }

    /// Starts an HMAC session salted to the root with a salt we chose (TPM2_StartAuthSession,
    /// Part 3 §11.1; ECC salt, Part 1 §C.6.1), AES-128-CFB, SHA-256, unbound.
    fn start_own_session(&mut self) -> Result<OwnSession> {
        let root_handle = self
            .ctx
            .tr_get_tpm_handle(self.root.into())
            .map_err(|e| Error::tss(OP, e))?;
        let (rx, ry) = &self.root_point;
        let root = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], &pad32(rx), &pad32(ry)].concat())
            .map_err(|_| malformed())?;
        let ephemeral = loop {
            let b = Zeroizing::new(random::<32>()?);
            if let Ok(k) = p256::SecretKey::from_slice(b.as_slice()) {
                break k;
            }
        };
        let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), root.as_affine());
        let point = ephemeral.public_key().to_sec1_point(false);
        let (ex, ey) = (&point.as_bytes()[1..33], &point.as_bytes()[33..65]);
        let salt = kdf::kdf_e(shared.raw_secret_bytes(), "SECRET", ex, rx, 256);
        let nonce_caller = random::<32>()?;

        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(&root_handle.to_be_bytes());
        body.extend_from_slice(&TPM_RH_NULL.to_be_bytes());
        put_tpm2b(&mut body, &nonce_caller);
        let mut secret = Vec::with_capacity(68);
        put_tpm2b(&mut secret, ex);
        put_tpm2b(&mut secret, ey);
        put_tpm2b(&mut body, &secret);
        body.push(TPM_SE_HMAC);
        body.extend_from_slice(&TPM_ALG_AES.to_be_bytes());
        body.extend_from_slice(&128u16.to_be_bytes());
        body.extend_from_slice(&TPM_ALG_CFB.to_be_bytes());
        body.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
        let r = self.raw(&command(
            TPM_ST_NO_SESSIONS,
            TPM_CC_START_AUTH_SESSION,
            &body,
        ))?;
        let handle = r.get(10..14).ok_or_else(malformed)?;
        let handle = u32::from_be_bytes([handle[0], handle[1], handle[2], handle[3]]);
        let mut at = 14;
        let nonce_tpm = match take_tpm2b(&r, &mut at) {
            Ok(n) => n.to_vec(),
            Err(e) => {
                self.flush_raw(handle);
                return Err(e);
            }
        };
        // sessionKey = KDFa(authHash, bind.authValue ‖ salt, "ATH", nonceTPM, nonceCaller)
        // with no bind entity (Part 1 §19.6.11).
        let key = kdf::kdf_a(&salt, "ATH", &nonce_tpm, &nonce_caller, 256);
        Ok(OwnSession {
            handle,
            key,
            nonce_tpm,
        })
    }

    /// Step 1–2 of the module documentation: a session of our own and `new` encrypted
    /// under it, with the cpHash of NV_ChangeAuth(`index_name`, that ciphertext).
    pub(crate) fn prepare_change(
        &mut self,
        index_name: &[u8],
        new: &PinHash,
    ) -> Result<PreparedChange> {
        let session = self.start_own_session()?;
        let nonce_caller = match random::<32>() {
            Ok(n) => n,
            Err(e) => {
                self.flush_raw(session.handle);
                return Err(e);
            }
        };
        // Part 1 §21.3: symKey ‖ IV = KDFa(sessionValue, "CFB", nonceNewer, nonceOlder);
        // sessionValue is sessionKey alone for a session that authorizes nothing.
        let kiv = kdf::kdf_a(&session.key, "CFB", &nonce_caller, &session.nonce_tpm, 256);
        let mut data = Zeroizing::new(new.expose_secret_bytes().to_vec());
        cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&kiv[..16], &kiv[16..32])
            .map_err(|_| malformed())?
            .encrypt(&mut data);
        let mut parameter = Vec::with_capacity(2 + data.len());
        put_tpm2b(&mut parameter, &data);
        let cp_hash = bound::nv_change_auth(index_name, &parameter);
        Ok(PreparedChange {
            session,
            nonce_caller,
            parameter,
            cp_hash,
        })
    }

    /// Gives up a prepared change (the policy could not be completed): flushes our session.
    pub(crate) fn discard_change(&mut self, prepared: PreparedChange) {
        self.flush_raw(prepared.session.handle);
    }

    /// Step 4: NV_ChangeAuth on `nv_handle`, authorized by `policy` (a satisfied policy
    /// session, TPM handle; flushed by the TPM on success). Our session is flushed whatever
    /// happens; the policy session is the caller's to flush on failure.
    pub(crate) fn send_change(
        &mut self,
        prepared: PreparedChange,
        nv_handle: u32,
        policy: u32,
    ) -> Result<()> {
        let own = prepared.session.handle;
        let out = self.send_change_inner(&prepared, nv_handle, policy);
        if out.is_err() {
            self.flush_raw(own);
        }
        out
    }

    fn send_change_inner(&mut self, p: &PreparedChange, nv_handle: u32, policy: u32) -> Result<()> {
        let s = &p.session;
        let attrs = DECRYPT; // continueSession clear: the TPM flushes it on success
        let hmac = session_hmac(&s.key, &p.cp_hash, &p.nonce_caller, &s.nonce_tpm, attrs);
        let policy_nonce = random::<32>()?;
        let mut auth = Vec::with_capacity(160);
        // The policy session: its HMAC is not checked (no PolicyAuthValue), so it is empty.
        auth.extend_from_slice(&policy.to_be_bytes());
        put_tpm2b(&mut auth, &policy_nonce);
        auth.push(0);
        put_tpm2b(&mut auth, &[]);
        auth.extend_from_slice(&s.handle.to_be_bytes());
        put_tpm2b(&mut auth, &p.nonce_caller);
        auth.push(attrs);
        put_tpm2b(&mut auth, &hmac);
        let mut body = Vec::with_capacity(8 + auth.len() + p.parameter.len());
        body.extend_from_slice(&nv_handle.to_be_bytes());
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(&auth);
        body.extend_from_slice(&p.parameter);
        let r = self.raw(&command(
            TPM_ST_SESSIONS,
            bound::TPM_CC_NV_CHANGE_AUTH,
            &body,
        ))?;
        // Success: parameterSize (no parameters), then one response auth per session.
        // Ours proves the answer came from the TPM that holds our session key.
        let mut at = 14;
        for session in 0..2 {
            let nonce = take_tpm2b(&r, &mut at)?.to_vec();
            let attrs_back = *r.get(at).ok_or_else(malformed)?;
            at += 1;
            let mac = take_tpm2b(&r, &mut at)?;
            if session == 1 {
                let rp_hash: [u8; 32] = Sha256::new()
                    .chain_update(0u32.to_be_bytes())
                    .chain_update(bound::TPM_CC_NV_CHANGE_AUTH.to_be_bytes())
                    .finalize()
                    .into();
                let want = session_hmac(&s.key, &rp_hash, &nonce, &p.nonce_caller, attrs_back);
                if !bool::from(want.as_slice().ct_eq(mac)) {
                    return Err(Error::Tpm {
                        op: OP,
                        code: "the response's HMAC does not verify".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A session's HMAC (Part 1 §19.6.6; the response's is the same with rpHash and the nonces
/// swapped): HMAC(sessionKey, pHash ‖ nonceNewer ‖ nonceOlder ‖ sessionAttributes). Our
/// session authorizes nothing, so no authValue is appended to its key.
fn session_hmac(key: &[u8], p_hash: &[u8], newer: &[u8], older: &[u8], attrs: u8) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(p_hash);
    mac.update(newer);
    mac.update(older);
    mac.update(&[attrs]);
    mac.finalize().into_bytes().into()
}

/// A coordinate as the 32 bytes of a SEC1 point (TPMs may drop leading zeros).
fn pad32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = b.len().min(32);
    out[32 - n..].copy_from_slice(&b[b.len() - n..]);
    out
}
