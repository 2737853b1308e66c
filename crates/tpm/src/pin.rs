//! The PIN, enforced by the TPM: an NV index of type TPM_NT_PIN_FAIL whose authValue is
//! the pinHash (TPM 2.0 Part 1 §37.2.3 "PIN Fail Index"). Its 8 data bytes are
//! {pinCount, pinLimit}. Each failed authorization with the index's authValue raises
//! pinCount, a successful one resets it to 0, and once pinCount reaches pinLimit the TPM
//! refuses the authValue altogether (TPM_RC_AUTH_UNAVAILABLE) - CTAP's retry semantics
//! (CTAP 2.1 §6.5.2.1 "pinRetries"), counted in hardware. TPMA_NV_NO_DA keeps these
//! failures out of the TPM-wide dictionary-attack counter that other programs share.
//!
//! Credential keys that need the PIN carry authPolicy = PolicySecret(this index's Name).

use std::ops::RangeInclusive;

use tss_esapi::{
    attributes::NvIndexAttributesBuilder,
    constants::response_code::Tss2ResponseCodeKind as Kind,
    constants::NvIndexType,
    handles::{AuthHandle, NvIndexHandle, NvIndexTpmHandle, ObjectHandle, TpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{NvAuth, Provision},
    },
    structures::{Auth, Digest, MaxNvBuffer, Nonce, NvPublic, NvPublicBuilder},
};

use crate::{
    policy::{policy_change_auth_digest, policy_secret_digest},
    session::{
        flush_session, start_policy, start_salted_hmac, ParamEncryption, NO_PARAM_ENCRYPTION,
    },
    Error, PinHash, Result, Tpm,
};

/// The TPM's pinLimit: wrong PINs allowed before the index refuses even the right one.
/// CTAP 2.1 §6.5.2.1 sets the maximum retries to 8.
pub const PIN_LIMIT: u32 = 8;

/// Where PIN indices are placed: the owner range of the TCG handle registry.
pub const PIN_INDEX_RANGE: RangeInclusive<u32> = 0x0100_0000..=0x013F_FFFF;

const DATA_SIZE: u16 = 8;

/// A PIN index this crate defined and checked: its TPM handle and its Name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinIndex {
    handle: u32,
    name: Vec<u8>,
}

impl PinIndex {
    /// The NV handle, to be kept by the caller (it is not secret).
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// The index's Name (nameAlg ‖ H(NVPublic)); it never includes the authValue, so a
    /// PIN change leaves it as it is.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The authPolicy that binds a credential key to this index.
    pub fn key_policy(&self) -> [u8; 32] {
        policy_secret_digest(&self.name)
    }
}

/// PIN attempts left, as the TPM counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRetries {
    pub remaining: u32,
    pub limit: u32,
}

/// The public area of a PIN index at `handle`. `written` is what the TPM reports once the
/// counter has been initialised (and what the Name is computed over).
fn pin_public(handle: u32, written: bool) -> Result<NvPublic> {
    let err = |e| Error::tss("PIN index template", e);
    let attributes = NvIndexAttributesBuilder::new()
        .with_nv_index_type(NvIndexType::PinFail)
        .with_no_da(true)
        .with_owner_write(true)
        .with_owner_read(true)
        .with_written(written)
        .build()
        .map_err(err)?;
    NvPublicBuilder::new()
        .with_nv_index(NvIndexTpmHandle::new(handle).map_err(err)?)
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(attributes)
        .with_index_auth_policy(
            Digest::try_from(policy_change_auth_digest().to_vec()).map_err(err)?,
        )
        .with_data_area_size(usize::from(DATA_SIZE))
        .build()
        .map_err(err)
}

fn pin_auth(pin: &PinHash) -> Result<Auth> {
    Auth::try_from(pin.expose_secret_bytes().to_vec()).map_err(|e| Error::tss("PIN auth", e))
}

impl Tpm {
    /// Defines a PIN index with `pin` as its authValue and pinCount 0 / pinLimit
    /// [`PIN_LIMIT`]. `handle` = None picks a free random handle in [`PIN_INDEX_RANGE`].
    pub fn define_pin_index(&mut self, handle: Option<u32>, pin: &PinHash) -> Result<PinIndex> {
        let mut tries = 0;
        loop {
            let h = match handle {
                Some(h) => h,
                None => random_handle()?,
            };
            match self.define_at(h, pin) {
                Err(Error::IndexInUse(_)) if handle.is_none() && tries < 16 => tries += 1,
                other => return other,
            }
        }
    }

    fn define_at(&mut self, handle: u32, pin: &PinHash) -> Result<PinIndex> {
        if !PIN_INDEX_RANGE.contains(&handle) {
            return Err(Error::PinIndexMismatch {
                handle,
                why: "outside the owner NV range",
            });
        }
        let public = pin_public(handle, false)?;
        let auth = pin_auth(pin)?;
        // The authValue is the first command parameter: encrypted on the way in.
        let nv = self.as_owner(
            ParamEncryption {
                decrypt: true,
                encrypt: false,
            },
            "define PIN index",
            |c| {
                c.nv_define_space(Provision::Owner, Some(auth), public)
                    .map_err(|e| match Error::kind_of(&e) {
                        Some(Kind::NvDefined) => Error::IndexInUse(handle),
                        _ => Error::tss("define PIN index", e),
                    })
            },
        )?;
        self.cache_nv(handle, nv);
        if let Err(e) = self.write_counter(nv, 0) {
            let _ = self.undefine(nv);
            return Err(e);
        }
        self.read_checked(handle)
    }

    /// Writes {pinCount, pinLimit}; the owner may, the index's own auth may not (no AUTHWRITE).
    fn write_counter(&mut self, nv: NvIndexHandle, count: u32) -> Result<()> {
        let mut data = count.to_be_bytes().to_vec();
        data.extend_from_slice(&PIN_LIMIT.to_be_bytes());
        let data = MaxNvBuffer::try_from(data).map_err(|e| Error::tss("write PIN counter", e))?;
        self.as_owner(NO_PARAM_ENCRYPTION, "write PIN counter", |c| {
            c.nv_write(NvAuth::Owner, nv, data, 0)
                .map_err(|e| Error::tss("write PIN counter", e))
        })
    }

    /// Opens the PIN index at `handle` after checking that its public area is exactly the
    /// one [`Self::define_pin_index`] creates; anything else is refused.
    pub fn open_pin_index(&mut self, handle: u32) -> Result<PinIndex> {
        self.read_checked(handle)
    }

    fn nv_handle(&mut self, handle: u32) -> Result<NvIndexHandle> {
        if let Some((h, nv)) = self.nv_cache {
            if h == handle {
                return Ok(nv);
            }
        }
        let tpm_handle =
            NvIndexTpmHandle::new(handle).map_err(|e| Error::tss("PIN index handle", e))?;
        let obj = self
            .ctx
            .tr_from_tpm_public(TpmHandle::NvIndex(tpm_handle))
            .map_err(|e| match Error::kind_of(&e) {
                Some(Kind::Handle) => Error::NoPinIndex(handle),
                _ => Error::tss("open PIN index", e),
            })?;
        let nv = NvIndexHandle::from(obj);
        self.cache_nv(handle, nv);
        Ok(nv)
    }

    /// Remembers `nv` as the ESYS object of `handle`, closing the one it replaces.
    fn cache_nv(&mut self, handle: u32, nv: NvIndexHandle) {
        if let Some((_, old)) = self.nv_cache.replace((handle, nv)) {
            if old != nv {
                let _ = self.ctx.tr_close(&mut ObjectHandle::from(old));
            }
        }
    }

    fn read_checked(&mut self, handle: u32) -> Result<PinIndex> {
        let nv = self.nv_handle(handle)?;
        let (public, name) = self
            .ctx
            .nv_read_public(nv)
            .map_err(|e| Error::tss("read PIN index", e))?;
        let expected = pin_public(handle, true)?;
        let why = if public.attributes() != expected.attributes() {
            Some("its attributes differ")
        } else if public.authorization_policy() != expected.authorization_policy() {
            Some("its policy differs")
        } else if public.data_size() != expected.data_size()
            || public.name_algorithm() != expected.name_algorithm()
        {
            Some("its size or name algorithm differs")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::PinIndexMismatch { handle, why });
        }
        Ok(PinIndex {
            handle,
            name: name.value().to_vec(),
        })
    }

    /// Attempts left, read fresh from the TPM (pinLimit − pinCount).
    pub fn pin_retries(&mut self, index: &PinIndex) -> Result<PinRetries> {
        let nv = self.nv_handle(index.handle)?;
        let data = self.as_owner(NO_PARAM_ENCRYPTION, "read PIN counter", |c| {
            c.nv_read(NvAuth::Owner, nv, DATA_SIZE, 0)
                .map_err(|e| Error::tss("read PIN counter", e))
        })?;
        let b = data.value();
        if b.len() != usize::from(DATA_SIZE) {
            return Err(Error::PinIndexMismatch {
                handle: index.handle,
                why: "its counter has the wrong size",
            });
        }
        let count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let limit = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        Ok(PinRetries {
            remaining: limit.saturating_sub(count),
            limit,
        })
    }

    /// Proves `pin` to the index inside `policy` (PolicySecret). The TPM counts a wrong
    /// PIN and resets the count on the right one.
    pub(crate) fn policy_secret(
        &mut self,
        index: &PinIndex,
        pin: &PinHash,
        policy: tss_esapi::interface_types::session_handles::PolicySession,
    ) -> Result<()> {
        let nv = self.nv_handle(index.handle)?;
        self.ctx
            .tr_set_auth(nv.into(), pin_auth(pin)?)
            .map_err(|e| Error::tss("PIN auth", e))?;
        let hmac = start_salted_hmac(&mut self.ctx, self.root, NO_PARAM_ENCRYPTION, "PIN check");
        let out = hmac.and_then(|s| {
            let r = self.ctx.execute_with_session(Some(s), |c| {
                c.policy_secret(
                    policy,
                    AuthHandle::from(nv),
                    Nonce::default(),
                    Digest::default(),
                    Nonce::default(),
                    None,
                )
            });
            flush_session(&mut self.ctx, s);
            r.map(|_| ()).map_err(|e| match Error::kind_of(&e) {
                Some(Kind::AuthUnavailable) => Error::PinBlocked,
                _ => Error::tss("PIN check", e),
            })
        });
        // Forget the PIN in ESYS's copy of the handle whatever happened.
        let _ = self.ctx.tr_set_auth(nv.into(), Auth::default());
        out
    }

    /// Checks `pin` against the TPM, as a real (not trial) policy session would use it:
    /// a wrong PIN costs a retry, the right one restores them all.
    pub fn verify_pin(&mut self, index: &PinIndex, pin: &PinHash) -> Result<()> {
        let session = start_policy(&mut self.ctx, "PIN check")?;
        let policy = session.try_into().map_err(|e| Error::tss("PIN check", e))?;
        let out = self.policy_secret(index, pin, policy);
        flush_session(&mut self.ctx, session);
        out
    }

    /// Changes the PIN: the TPM checks `old` (counted like any attempt), then the index is
    /// redefined at the same handle with the same public area and `new` as its authValue.
    /// The Name depends only on the public area, so every key bound to the index stays
    /// usable - with the new PIN only. (tss-esapi 7 has no NV_ChangeAuth: see
    /// docs/DESIGN.md, "PIN change".)
    pub fn change_pin(&mut self, index: &PinIndex, old: &PinHash, new: &PinHash) -> Result<()> {
        self.verify_pin(index, old)?;
        let nv = self.nv_handle(index.handle)?;
        self.undefine(nv)?;
        let again = self.define_at(index.handle, new)?;
        if again.name != index.name {
            // Cannot happen with the same template; refuse loudly rather than leave keys
            // bound to a Name that no longer exists.
            return Err(Error::PinIndexMismatch {
                handle: index.handle,
                why: "its Name changed on redefinition",
            });
        }
        Ok(())
    }

    /// Deletes the PIN index (authenticator reset).
    pub fn undefine_pin_index(&mut self, index: PinIndex) -> Result<()> {
        let nv = self.nv_handle(index.handle)?;
        self.undefine(nv)
    }

    fn undefine(&mut self, nv: NvIndexHandle) -> Result<()> {
        self.as_owner(NO_PARAM_ENCRYPTION, "undefine PIN index", |c| {
            c.nv_undefine_space(Provision::Owner, nv)
                .map_err(|e| Error::tss("undefine PIN index", e))
        })?;
        // ESYS closed its object with the index.
        self.nv_cache = None;
        Ok(())
    }
}

fn random_handle() -> Result<u32> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|_| Error::Tpm {
        op: "PIN index handle",
        code: "no OS randomness".into(),
    })?;
    let span = PIN_INDEX_RANGE.end() - PIN_INDEX_RANGE.start() + 1;
    Ok(PIN_INDEX_RANGE.start() + u32::from_be_bytes(b) % span)
}
