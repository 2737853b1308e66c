//! PIN indices made before the rebuild-proof index: TPM_NT_PIN_FAIL with NO_DA |
//! OWNERWRITE | OWNERREAD and authPolicy = PolicyCommandCode(NV_ChangeAuth) ∧
//! PolicyAuthValue. Opened so that their users keep their passkeys, never made for a new
//! PIN. Their weakness (an owner can rewrite pinCount, or undefine the index and define it
//! again with a PIN of their choice and the same Name) is reported by status and
//! documented in docs/THREAT-MODEL.md; `tests/attacks.rs` shows both attacks work here.

use tss_esapi::{
    attributes::NvIndexAttributesBuilder,
    constants::{response_code::Tss2ResponseCodeKind as Kind, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{NvAuth, Provision},
    },
    structures::{Digest, MaxNvBuffer, NvPublic, NvPublicBuilder},
};

use super::{pin_auth, PinIndex, PinKind, DATA_SIZE, PIN_INDEX_RANGE, PIN_LIMIT};
use crate::{
    policy::policy_change_auth_digest,
    session::{ParamEncryption, NO_PARAM_ENCRYPTION},
    Error, PinHash, Result, Tpm,
};

/// The legacy public area at `handle`.
fn public(handle: u32, written: bool) -> Result<NvPublic> {
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

/// Accepts exactly the legacy public area (written) at `handle`.
pub(super) fn check(handle: u32, public: &NvPublic, name: Vec<u8>) -> Result<PinIndex> {
    let expected = self::public(handle, true)?;
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
        name,
        kind: PinKind::Legacy,
    })
}

impl Tpm {
    /// Defines a legacy (OWNERWRITE) PIN index. The product never does; this exists for
    /// the tests that open stores made by earlier versions and that show the attacks the
    /// sealed index stops.
    #[doc(hidden)]
    pub fn define_legacy_pin_index(
        &mut self,
        handle: Option<u32>,
        pin: &PinHash,
    ) -> Result<PinIndex> {
        match handle {
            Some(h) if !PIN_INDEX_RANGE.contains(&h) => Err(Error::PinIndexMismatch {
                handle: h,
                why: "outside the owner NV range",
            }),
            Some(h) => self.define_legacy_at(h, pin),
            None => self.define_at_free_handle(|tpm, h| tpm.define_legacy_at(h, pin)),
        }
    }

    fn define_legacy_at(&mut self, handle: u32, pin: &PinHash) -> Result<PinIndex> {
        let template = public(handle, false)?;
        let auth = pin_auth(pin)?;
        let nv = self.as_owner(
            ParamEncryption {
                decrypt: true,
                encrypt: false,
            },
            "define PIN index",
            |c| {
                c.nv_define_space(Provision::Owner, Some(auth), template)
                    .map_err(|e| match Error::kind_of(&e) {
                        Some(Kind::NvDefined) => Error::IndexInUse(handle),
                        _ => Error::tss("define PIN index", e),
                    })
            },
        )?;
        self.cache_nv(crate::tpm::NvSlot::Pin, handle, nv);
        if let Err(e) = self.write_legacy_counter(nv) {
            let _ = self.undefine(nv);
            return Err(e);
        }
        let (public, name) = self.read_public(handle)?;
        check(handle, &public, name)
    }

    /// Writes {0, pinLimit} as the owner (the only way a legacy index is written).
    fn write_legacy_counter(&mut self, nv: NvIndexHandle) -> Result<()> {
        let mut data = 0u32.to_be_bytes().to_vec();
        data.extend_from_slice(&PIN_LIMIT.to_be_bytes());
        let data = MaxNvBuffer::try_from(data).map_err(|e| Error::tss("write PIN counter", e))?;
        self.as_owner(NO_PARAM_ENCRYPTION, "write PIN counter", |c| {
            c.nv_write(NvAuth::Owner, nv, data, 0)
                .map_err(|e| Error::tss("write PIN counter", e))
        })
    }

    /// The legacy PIN change: the TPM checks `old` (PolicySecret, counted), then the index
    /// is undefined and defined again at the same handle with the same public area and
    /// `new`. Between the two a crash leaves no index; this is one more reason the sealed
    /// index replaced it.
    pub(super) fn change_legacy(
        &mut self,
        index: &PinIndex,
        old: &PinHash,
        new: &PinHash,
    ) -> Result<()> {
        self.verify_pin(index, old)?;
        let nv = self.nv_handle(index.handle)?;
        self.undefine(nv)?;
        let again = self.define_legacy_at(index.handle, new)?;
        if again.name != index.name {
            return Err(Error::PinIndexMismatch {
                handle: index.handle,
                why: "its Name changed on redefinition",
            });
        }
        Ok(())
    }
}
