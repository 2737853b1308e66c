//! Credential keys: created inside the TPM under the root, loaded from their blob for each
//! signature and flushed right after (the TPM has only a few transient slots).

use p256::ecdsa::{Signature, VerifyingKey};
use tss_esapi::{
    constants::{
        response_code::Tss2ResponseCodeKind as Kind,
        tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK},
    },
    handles::KeyHandle,
    interface_types::session_handles::PolicySession,
    structures::{Digest, HashcheckTicket, SignatureScheme},
    tss2_esys::TPMT_TK_HASHCHECK,
};

use crate::{
    bound::{self, ProofFor},
    session::{flush_session, forget_used_session, start_policy_once, with_empty_password},
    templates, Error, KeyBlob, PinHash, PinIndex, Protection, Result, Tpm,
};

/// A freshly created credential key.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub blob: KeyBlob,
    pub public: VerifyingKey,
}

/// What the caller offers to authorize a signature.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum KeyAuth<'a> {
    /// No PIN: enough for a user-presence key; a PIN-bound key is refused by the TPM.
    None,
    /// The PIN, proven to `index` by PolicySecret before the key signs.
    Pin {
        index: &'a PinIndex,
        pin: &'a PinHash,
    },
}

impl<'a> KeyAuth<'a> {
    /// The PIN, to be proven to `index`.
    pub fn pin(index: &'a PinIndex, pin: &'a PinHash) -> Self {
        KeyAuth::Pin { index, pin }
    }
}

impl Tpm {
    /// Creates a P-256 signing key inside the TPM. With `pin_index`, the key can sign only
    /// after the PIN is proven to that index (its authPolicy is PolicySecret(index)).
    pub fn create_key(&mut self, pin_index: Option<&PinIndex>) -> Result<CreatedKey> {
        let template = templates::credential_key(pin_index.map(PinIndex::key_policy))?;
        let root = self.root;
        let made = with_empty_password(&mut self.ctx, |c| {
            c.create(root, template, None, None, None, None)
        })
        .map_err(|e| Error::tss("create key", e))?;
        let blob = KeyBlob::new(made.out_public, made.out_private)?;
        let public = blob.verifying_key()?;
        Ok(CreatedKey { blob, public })
    }

    /// Signs a SHA-256 digest with the key in `blob`. The TPM, not this code, decides
    /// whether `auth` is enough: a PIN-bound key without the right PIN is refused by it.
    pub fn sign(
        &mut self,
        blob: &KeyBlob,
        digest: &[u8; 32],
        auth: KeyAuth<'_>,
    ) -> Result<Signature> {
        let key = self.load(blob)?;
        let out = self.sign_loaded(key, blob, digest, auth);
        self.flush_object(key.into());
        out
    }

    /// Whether the TPM loads `blob` under the current root (a key of a cleared or
    /// replaced TPM, or of another seed, does not).
    pub fn key_loads(&mut self, blob: &KeyBlob) -> Result<bool> {
        match self.load(blob) {
            Ok(key) => {
                self.flush_object(key.into());
                Ok(true)
            }
            Err(Error::BadBlob(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn load(&mut self, blob: &KeyBlob) -> Result<KeyHandle> {
        self.load_object(&blob.public, &blob.private)
    }

    /// Loads an object this crate made under the root; a blob the TPM refuses (tampered,
    /// truncated, another root or TPM) is [`Error::BadBlob`].
    pub(crate) fn load_object(
        &mut self,
        public: &tss_esapi::structures::Public,
        private: &tss_esapi::structures::Private,
    ) -> Result<KeyHandle> {
        let root = self.root;
        let (private, public) = (private.clone(), public.clone());
        with_empty_password(&mut self.ctx, |c| c.load(root, private, public)).map_err(|e| {
            match Error::kind_of(&e) {
                // The private area does not match the public area or this root (tampered,
                // truncated, from another seed or another TPM).
                Some(
                    Kind::Integrity
                    | Kind::Value
                    | Kind::Size
                    | Kind::Key
                    | Kind::Binding
                    | Kind::EccPoint
                    | Kind::Insufficient
                    | Kind::Sensitive
                    | Kind::Attributes
                    | Kind::Type
                    | Kind::Hash
                    | Kind::Symmetric,
                ) => Error::BadBlob("the TPM refused to load it"),
                _ => Error::tss("load key", e),
            }
        })
    }

    fn sign_loaded(
        &mut self,
        key: KeyHandle,
        blob: &KeyBlob,
        digest: &[u8; 32],
        auth: KeyAuth<'_>,
    ) -> Result<Signature> {
        let digest_bytes = *digest;
        let digest = Digest::try_from(digest.to_vec()).map_err(|e| Error::tss("sign", e))?;
        let ticket = null_ticket()?;
        match (blob.protection(), auth) {
            (Protection::Pin { policy }, KeyAuth::Pin { index, pin }) => {
                if policy != index.key_policy() {
                    return Err(Error::BadBlob("bound to another PIN index"));
                }
                // The session of the PIN check that came just before, if any: the
                // PolicySecret is done already (pin_session).
                if let Some(session) = self.take_ready_policy(index.handle(), pin) {
                    let out = self.ctx.execute_with_session(Some(session), |c| {
                        c.sign(key, digest.clone(), ecdsa_sha256(), ticket.clone())
                    });
                    match out {
                        Ok(sig) => {
                            forget_used_session(&mut self.ctx, session);
                            return to_p256(sig);
                        }
                        // Not used up by a failed command: flush it, and prove the PIN anew.
                        Err(e) => {
                            tracing::debug!(error = %e, "kept PIN session refused; checking again");
                            flush_session(&mut self.ctx, session);
                        }
                    }
                }
                // Used once: the TPM flushes it after the Sign. The PIN is proven for
                // exactly this Sign (cpHashA): nobody else can use the session for
                // another key or digest, even between our two commands.
                let name = self
                    .ctx
                    .tr_get_name(key.into())
                    .map_err(|e| Error::tss("sign", e))?;
                let for_this = ProofFor::Command(bound::sign(name.value(), &digest_bytes));
                let session = start_policy_once(&mut self.ctx, "sign")?;
                let out = PolicySession::try_from(session)
                    .map_err(|e| Error::tss("sign", e))
                    .and_then(|p| self.policy_secret(index, pin, p, for_this))
                    .and_then(|()| {
                        self.ctx
                            .execute_with_session(Some(session), |c| {
                                c.sign(key, digest, ecdsa_sha256(), ticket)
                            })
                            .map_err(|e| Error::tss("sign", e))
                    });
                match out {
                    Ok(_) => forget_used_session(&mut self.ctx, session),
                    Err(_) => flush_session(&mut self.ctx, session),
                }
                to_p256(out?)
            }
            // A user-presence key, or a PIN-bound key offered no PIN: try with the empty
            // password. For the latter the TPM answers AUTH_UNAVAILABLE (userWithAuth is
            // clear), and that is the refusal the caller sees.
            (_, _) => {
                let out = with_empty_password(&mut self.ctx, |c| {
                    c.sign(key, digest, ecdsa_sha256(), ticket)
                })
                .map_err(|e| match Error::kind_of(&e) {
                    Some(Kind::AuthUnavailable | Kind::PolicyFail | Kind::AuthType) => {
                        Error::PinRequired
                    }
                    _ => Error::tss("sign", e),
                });
                to_p256(out?)
            }
        }
    }
}

/// The scheme every signature names: keys made since `tpm` attestation carry the NULL
/// scheme (`templates::credential_key`), older ones ECDSA-SHA256 itself; this suits both.
fn ecdsa_sha256() -> SignatureScheme {
    SignatureScheme::EcDsa {
        hash_scheme: tss_esapi::structures::HashScheme::new(
            tss_esapi::interface_types::algorithm::HashingAlgorithm::Sha256,
        ),
    }
}

/// The "no hash check" ticket: the key is unrestricted, so the TPM needs no proof that
/// it hashed the message itself (Part 3 §20.2).
fn null_ticket() -> Result<HashcheckTicket> {
    let raw = TPMT_TK_HASHCHECK {
        tag: TPM2_ST_HASHCHECK,
        hierarchy: TPM2_RH_NULL,
        digest: Default::default(),
    };
    HashcheckTicket::try_from(raw).map_err(|e| Error::tss("sign", e))
}

pub(crate) fn to_p256(sig: tss_esapi::structures::Signature) -> Result<Signature> {
    let tss_esapi::structures::Signature::EcDsa(ecc) = sig else {
        return Err(Error::Tpm {
            op: "sign",
            code: "the TPM returned a non-ECDSA signature".into(),
        });
    };
    let (r, s) = (ecc.signature_r().value(), ecc.signature_s().value());
    if r.len() > 32 || s.len() > 32 {
        return Err(Error::Tpm {
            op: "sign",
            code: "signature scalar too long".into(),
        });
    }
    let mut rs = [0u8; 64];
    rs[32 - r.len()..32].copy_from_slice(r);
    rs[64 - s.len()..].copy_from_slice(s);
    Signature::from_slice(&rs).map_err(|_| Error::Tpm {
        op: "sign",
        code: "the TPM returned an invalid signature".into(),
    })
}
