//! hmac-secret computed inside the TPM (CTAP 2.1 §12.5, docs/DESIGN.md "hmac-secret").
//!
//! Two keyed-hash keys per install, made under the root: one without UV (empty authValue)
//! and one bound to the PIN index by PolicySecret, like a PIN-bound credential key.
//! CredRandom = HMAC(key, label ‖ credential material) by TPM2_HMAC, with the result
//! encrypted on its way back (salted session, encrypt attribute). The store holds only the
//! wrapped keys: without this TPM (and, for the UV variant, the PIN) they yield nothing.

use tss_esapi::{
    interface_types::{
        algorithm::HashingAlgorithm,
        session_handles::{AuthSession, PolicySession},
    },
    structures::{MaxBuffer, Private, Public},
};
use zeroize::Zeroize;

use crate::{
    blob::{parts_from_bytes, parts_to_bytes},
    bound::{self, ProofFor},
    session::{flush_session, start_salted_hmac, start_salted_policy, ParamEncryption},
    templates, Error, KeyAuth, PinIndex, Result, Tpm,
};

const MAGIC: [u8; 4] = *b"TPH\x01";
const ENCRYPT_RESPONSE: ParamEncryption = ParamEncryption {
    decrypt: false,
    encrypt: true,
};

/// A wrapped hmac-secret key (public area + private area under the root).
#[derive(Clone, PartialEq, Eq)]
pub struct PrfKey {
    public: Public,
    private: Private,
    policy: Option<[u8; 32]>,
}

impl std::fmt::Debug for PrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrfKey")
            .field("pin_bound", &self.policy.is_some())
            .finish_non_exhaustive()
    }
}

impl PrfKey {
    pub fn pin_bound(&self) -> bool {
        self.policy.is_some()
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        parts_to_bytes(&MAGIC, &self.public, &self.private)
    }

    /// Parses a saved key; its public area must be exactly one of our two templates.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let (public, private) = parts_from_bytes(&MAGIC, b)?;
        let policy: Option<[u8; 32]> = match public.auth_policy().value() {
            [] => None,
            d => Some(
                d.try_into()
                    .map_err(|_| Error::BadBlob("policy digest is not SHA-256"))?,
            ),
        };
        let mut expected = templates::prf_key(policy)?;
        if let (Public::KeyedHash { unique: u, .. }, Public::KeyedHash { unique, .. }) =
            (&mut expected, &public)
        {
            *u = unique.clone();
        }
        if expected != public {
            return Err(Error::BadBlob("not a tpm-passkey hmac-secret key"));
        }
        Ok(PrfKey {
            public,
            private,
            policy,
        })
    }
}

impl Tpm {
    /// Makes an hmac-secret key; with `pin_index`, usable only with the PIN.
    pub fn create_prf_key(&mut self, pin_index: Option<&PinIndex>) -> Result<PrfKey> {
        let policy = pin_index.map(PinIndex::key_policy);
        let template = templates::prf_key(policy)?;
        let root = self.root;
        let made = crate::session::with_empty_password(&mut self.ctx, |c| {
            c.create(root, template, None, None, None, None)
        })
        .map_err(|e| Error::tss("create hmac-secret key", e))?;
        Ok(PrfKey {
            public: made.out_public,
            private: made.out_private,
            policy,
        })
    }

    /// HMAC-SHA-256 of `input` under `key`, inside the TPM. A PIN-bound key needs
    /// `KeyAuth::Pin` (counted like any PIN attempt); without it the TPM is not even asked.
    pub fn prf(&mut self, key: &PrfKey, input: &[u8], auth: KeyAuth<'_>) -> Result<[u8; 32]> {
        let op = "hmac-secret";
        let buffer = MaxBuffer::try_from(input.to_vec()).map_err(|e| Error::tss(op, e))?;
        let handle = self.load_object(&key.public, &key.private)?;
        let out = (|| match (key.policy, auth) {
            (Some(policy), KeyAuth::Pin { index, pin }) => {
                if policy != index.key_policy() {
                    return Err(Error::BadBlob("bound to another PIN index"));
                }
                // The policy session can encrypt the response itself: the key's authValue
                // is empty, so the TPM's sessionKey ‖ authValue and ESYS's sessionKey agree
                // (unlike for the PIN index, see pin::sealed).
                // The PIN is proven for exactly this HMAC (cpHashA): nobody else can use
                // the session for another input — another credential's secret.
                let name = self
                    .ctx
                    .tr_get_name(handle.into())
                    .map_err(|e| Error::tss(op, e))?;
                let for_this = ProofFor::Command(bound::hmac(name.value(), input));
                let session = start_salted_policy(&mut self.ctx, self.root, ENCRYPT_RESPONSE, op)?;
                let r = PolicySession::try_from(session)
                    .map_err(|e| Error::tss(op, e))
                    .and_then(|p| self.policy_secret(index, pin, p, for_this))
                    .and_then(|()| {
                        self.ctx
                            .execute_with_session(Some(session), |c| {
                                c.hmac(handle.into(), buffer, HashingAlgorithm::Sha256)
                            })
                            .map_err(|e| Error::tss(op, e))
                    });
                flush_session(&mut self.ctx, session);
                r
            }
            (Some(_), _) => Err(Error::PinRequired),
            (None, _) => {
                let session = start_salted_hmac(&mut self.ctx, self.root, ENCRYPT_RESPONSE, op)?;
                let r = self
                    .ctx
                    .execute_with_session(Some(session), |c| {
                        c.hmac(handle.into(), buffer, HashingAlgorithm::Sha256)
                    })
                    .map_err(|e| Error::tss(op, e));
                flush_session(&mut self.ctx, session);
                r
            }
        })();
        self.flush_object(handle.into());
        let digest = out?;
        let mut bytes = digest.value().to_vec();
        let result: Result<[u8; 32]> = bytes.as_slice().try_into().map_err(|_| Error::Tpm {
            op,
            code: "the TPM returned an HMAC of the wrong size".into(),
        });
        bytes.zeroize();
        result
    }

    /// HMAC of `input` under the without-UV key in a password session: for the store's seal,
    /// whose MAC is no secret (it is written to the file beside what it covers, and the
    /// input is the seal message), so a salted session that encrypts the answer would only
    /// add its two commands (start, flush) to every registration. The key must be the
    /// without-UV one: a PIN-bound key needs its policy.
    pub fn mac_in_clear(&mut self, key: &PrfKey, input: &[u8]) -> Result<[u8; 32]> {
        let op = "seal MAC";
        if key.policy.is_some() {
            return Err(Error::PinRequired);
        }
        let buffer = MaxBuffer::try_from(input.to_vec()).map_err(|e| Error::tss(op, e))?;
        let handle = self.load_object(&key.public, &key.private)?;
        let out = self
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.hmac(handle.into(), buffer, HashingAlgorithm::Sha256)
            })
            .map_err(|e| Error::tss(op, e));
        self.flush_object(handle.into());
        out?.value().try_into().map_err(|_| Error::Tpm {
            op,
            code: "the TPM returned an HMAC of the wrong size".into(),
        })
    }
}
