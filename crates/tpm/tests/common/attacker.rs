//! The attacker of `tests/attacks.rs`: raw tss-esapi calls on the same TPM, with the owner
//! authorization (empty, as on most Linux machines, or IT's password, which the owner
//! knows), and whatever the store file holds. Nothing here goes through tpm-passkey's own
//! TPM code: an attacker does not have to use it.

use std::path::Path;

use tss_esapi::{
    attributes::ObjectAttributesBuilder,
    constants::{CommandCode, SessionType},
    handles::{AuthHandle, KeyHandle, NvIndexHandle, NvIndexTpmHandle, ObjectHandle, TpmHandle},
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::{AuthSession, PolicySession},
    },
    structures::{
        Auth, Digest, EccParameter, EccPoint, HashcheckTicket, MaxBuffer, MaxNvBuffer, Nonce,
        NvPublic, Private, Public, PublicBuilder, PublicEccParametersBuilder, SignatureScheme,
        SymmetricDefinition, SymmetricDefinitionObject,
    },
    traits::UnMarshall,
    tss2_esys::TPMT_TK_HASHCHECK,
    Context, Error,
};

pub struct Attacker {
    pub ctx: Context,
}

/// What an attacker reads out of `store.sqlite` (the key store's state and the credential
/// blobs), parsed by hand from the documented layout.
pub struct Loot {
    pub seed: [u8; 32],
    pub pin_handle: Option<u32>,
    pub prf: Vec<u8>,
    pub prf_uv: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

fn part(b: &[u8]) -> (&[u8], &[u8]) {
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    (&b[2..2 + len], &b[2 + len..])
}

impl Loot {
    pub fn from_store(path: &Path) -> Self {
        let db = rusqlite::Connection::open(path).unwrap();
        let state: Vec<u8> = db
            .query_row(
                "SELECT value FROM secrets WHERE name = 'key_store_state'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(state[0], 5, "key-store state version 5");
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&state[1..33]);
        let (pin, rest) = part(&state[33..]);
        let (prf, rest) = part(rest);
        let (prf_uv, _) = part(rest);
        let pin_handle =
            (!pin.is_empty()).then(|| u32::from_be_bytes([pin[1], pin[2], pin[3], pin[4]]));
        let mut st = db.prepare("SELECT key_blob FROM credentials").unwrap();
        let blobs = st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        Loot {
            seed,
            pin_handle,
            prf: prf.to_vec(),
            prf_uv: prf_uv.to_vec(),
            blobs,
        }
    }
}

/// `magic(4) ‖ u16 ‖ TPMT_PUBLIC ‖ u16 ‖ TPM2B_PRIVATE buffer` (docs/DESIGN.md "Blob").
pub fn split_blob(b: &[u8]) -> (Public, Private) {
    let (public, rest) = part(&b[4..]);
    let (private, _) = part(rest);
    (
        Public::unmarshall(public).unwrap(),
        Private::try_from(private.to_vec()).unwrap(),
    )
}

impl Attacker {
    pub fn connect(tcti: &str, owner_password: Option<&[u8]>) -> Self {
        let mut ctx = Context::new(tcti.parse().unwrap()).unwrap();
        if let Some(pw) = owner_password {
            ctx.tr_set_auth(
                Hierarchy::Owner.into(),
                Auth::try_from(pw.to_vec()).unwrap(),
            )
            .unwrap();
        }
        Attacker { ctx }
    }

    pub fn nv(&mut self, handle: u32) -> NvIndexHandle {
        let h = NvIndexTpmHandle::new(handle).unwrap();
        self.ctx
            .tr_from_tpm_public(TpmHandle::NvIndex(h))
            .unwrap()
            .into()
    }

    pub fn read_public(&mut self, nv: NvIndexHandle) -> (NvPublic, Vec<u8>) {
        let (p, n) = self.ctx.nv_read_public(nv).unwrap();
        (p, n.value().to_vec())
    }

    /// pinCount, pinLimit as the owner reads them.
    pub fn counter(&mut self, handle: u32) -> (u32, u32) {
        let nv = self.nv(handle);
        let d = self
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_read(NvAuth::Owner, nv, 8, 0)
            })
            .unwrap();
        let b = d.value();
        (
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        )
    }

    /// The owner writes {pinCount, pinLimit} (what `tpm2_nvwrite -C o` does).
    pub fn owner_write_counter(
        &mut self,
        handle: u32,
        count: u32,
        limit: u32,
    ) -> Result<(), Error> {
        let nv = self.nv(handle);
        let mut data = count.to_be_bytes().to_vec();
        data.extend_from_slice(&limit.to_be_bytes());
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_write(NvAuth::Owner, nv, MaxNvBuffer::try_from(data).unwrap(), 0)
            })
    }

    /// Undefines the index and defines one with the same public area and `pin`.
    pub fn rebuild(&mut self, handle: u32, pin: &[u8]) -> Result<NvIndexHandle, Error> {
        let nv = self.nv(handle);
        let (public, _) = self.read_public(nv);
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_undefine_space(Provision::Owner, nv)
            })?;
        // The TPM refuses TPMA_NV_WRITTEN in a definition: clear it, as it was at first.
        let attrs = tss_esapi::attributes::NvIndexAttributes(public.attributes().0 & !(1 << 29));
        let public = tss_esapi::structures::NvPublicBuilder::new()
            .with_nv_index(public.nv_index())
            .with_index_name_algorithm(public.name_algorithm())
            .with_index_attributes(attrs)
            .with_index_auth_policy(public.authorization_policy().clone())
            .with_data_area_size(public.data_size())
            .build()
            .unwrap();
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_define_space(
                    Provision::Owner,
                    Some(Auth::try_from(pin.to_vec()).unwrap()),
                    public,
                )
            })
    }

    /// A fresh, unsalted policy session.
    pub fn policy_session(&mut self) -> AuthSession {
        self.ctx
            .start_auth_session(
                None,
                None,
                None,
                SessionType::Policy,
                SymmetricDefinition::Null,
                HashingAlgorithm::Sha256,
            )
            .unwrap()
            .unwrap()
    }

    pub fn flush(&mut self, s: AuthSession) {
        let _ = self
            .ctx
            .flush_context(tss_esapi::handles::SessionHandle::from(s).into());
    }

    /// PolicySecret(index) with `pin`, in a fresh policy session; returns the session on
    /// success for the caller to go on with.
    pub fn policy_secret(&mut self, handle: u32, pin: &[u8]) -> Result<AuthSession, Error> {
        let nv = self.nv(handle);
        self.ctx
            .tr_set_auth(nv.into(), Auth::try_from(pin.to_vec()).unwrap())
            .unwrap();
        let s = self.policy_session();
        let p = PolicySession::try_from(s).unwrap();
        let r = self
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.policy_secret(
                    p,
                    AuthHandle::from(nv),
                    Nonce::default(),
                    Digest::default(),
                    Nonce::default(),
                    None,
                )
            });
        match r {
            Ok(_) => Ok(s),
            Err(e) => {
                self.flush(s);
                Err(e)
            }
        }
    }

    /// One PIN guess through PolicySecret.
    pub fn guess(&mut self, handle: u32, pin: &[u8]) -> Result<(), Error> {
        let s = self.policy_secret(handle, pin)?;
        self.flush(s);
        Ok(())
    }

    /// NV_ChangeAuth through PolicyCommandCode(NV_ChangeAuth) ∧ PolicyAuthValue, the way a
    /// legacy index allows (its authPolicy is exactly that). Returns the TPM's answer.
    pub fn change_auth_with_auth_value(
        &mut self,
        handle: u32,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), Error> {
        let nv = self.nv(handle);
        self.ctx
            .tr_set_auth(nv.into(), Auth::try_from(old.to_vec()).unwrap())
            .unwrap();
        let s = self.policy_session();
        let p = PolicySession::try_from(s).unwrap();
        self.ctx
            .policy_command_code(p, CommandCode::NvChangeAuth)
            .unwrap();
        self.ctx.policy_auth_value(p).unwrap();
        let r = self.ctx.execute_with_session(Some(s), |c| {
            c.nv_change_auth(nv, Auth::try_from(new.to_vec()).unwrap())
        });
        self.flush(s);
        r
    }

    /// The tpm-passkey root, re-created from the seed in the store (the template is in
    /// the open source: crates/tpm/src/templates.rs).
    pub fn root(&mut self, seed: &[u8; 32]) -> KeyHandle {
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_restricted(true)
            .with_decrypt(true)
            .with_no_da(true)
            .build()
            .unwrap();
        let params = PublicEccParametersBuilder::new_restricted_decryption_key(
            SymmetricDefinitionObject::AES_128_CFB,
            EccCurve::NistP256,
        )
        .build()
        .unwrap();
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(params)
            .with_ecc_unique_identifier(EccPoint::new(
                EccParameter::try_from(seed.to_vec()).unwrap(),
                EccParameter::default(),
            ))
            .build()
            .unwrap();
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.create_primary(Hierarchy::Owner, public, None, None, None, None)
            })
            .unwrap()
            .key_handle
    }

    /// Frees a transient slot (swtpm has three).
    pub fn unload(&mut self, key: KeyHandle) {
        self.ctx.flush_context(key.into()).unwrap();
    }

    pub fn load(&mut self, root: KeyHandle, blob: &[u8]) -> KeyHandle {
        let (public, private) = split_blob(blob);
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.load(root, private, public)
            })
            .unwrap()
    }

    /// Sign with a loaded key and the empty password (what works for a user-presence key).
    pub fn sign_without_pin(&mut self, key: KeyHandle) -> Result<(), Error> {
        self.sign_digest(key, [7u8; 32])
    }

    /// Writes a one-way index (rollback counter, audit index) through its branch N —
    /// PolicyCommandCode(`code`) ∧ PolicyNvWritten(YES), then PolicyOR over `branches` — the
    /// way open to anyone with the TPM; `command` is the write.
    pub fn write_through_n(
        &mut self,
        code: tss_esapi::constants::CommandCode,
        branches: [[u8; 32]; 2],
        command: impl FnOnce(&mut Context) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let s = self.policy_session();
        let (attrs, mask) = tss_esapi::attributes::SessionAttributesBuilder::new()
            .with_continue_session(false)
            .build();
        self.ctx.tr_sess_set_attributes(s, attrs, mask)?;
        let p = tss_esapi::interface_types::session_handles::PolicySession::try_from(s)?;
        let out = (|| {
            self.ctx.policy_command_code(p, code)?;
            self.ctx.policy_nv_written(p, true)?;
            let mut list = tss_esapi::structures::DigestList::new();
            for b in branches {
                list.add(Digest::try_from(b.to_vec())?)?;
            }
            self.ctx.policy_or(p, list)?;
            self.ctx.execute_with_session(Some(s), command)
        })();
        self.flush(s);
        out
    }

    /// TPM2_Sign of a digest the attacker brings, with the empty password and no ticket.
    pub fn sign_digest(&mut self, key: KeyHandle, digest: [u8; 32]) -> Result<(), Error> {
        let ticket = HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
            tag: tss_esapi::constants::tss::TPM2_ST_HASHCHECK,
            hierarchy: tss_esapi::constants::tss::TPM2_RH_NULL,
            digest: Default::default(),
        })
        .unwrap();
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.sign(
                    key,
                    Digest::try_from(digest.to_vec()).unwrap(),
                    ecdsa_sha256(),
                    ticket,
                )
            })
            .map(|_| ())
    }

    /// Sign through a policy session in which PolicySecret(index) ran with `pin`.
    pub fn sign_with_pin(&mut self, key: KeyHandle, handle: u32, pin: &[u8]) -> Result<(), Error> {
        let s = self.policy_secret(handle, pin)?;
        let ticket = HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
            tag: tss_esapi::constants::tss::TPM2_ST_HASHCHECK,
            hierarchy: tss_esapi::constants::tss::TPM2_RH_NULL,
            digest: Default::default(),
        })
        .unwrap();
        let r = self.ctx.execute_with_session(Some(s), |c| {
            c.sign(
                key,
                Digest::try_from(vec![7u8; 32]).unwrap(),
                ecdsa_sha256(),
                ticket,
            )
        });
        self.flush(s);
        r.map(|_| ())
    }

    /// TPM2_HMAC with a loaded keyed-hash key and the empty password.
    pub fn hmac_without_pin(&mut self, key: KeyHandle) -> Result<Vec<u8>, Error> {
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.hmac(
                    ObjectHandle::from(key),
                    MaxBuffer::try_from(b"material".to_vec()).unwrap(),
                    HashingAlgorithm::Sha256,
                )
            })
            .map(|d| d.value().to_vec())
    }
}

/// ECDSA with SHA-256, named at TPM2_Sign (credential keys carry the NULL scheme).
fn ecdsa_sha256() -> SignatureScheme {
    SignatureScheme::EcDsa {
        hash_scheme: tss_esapi::structures::HashScheme::new(
            tss_esapi::interface_types::algorithm::HashingAlgorithm::Sha256,
        ),
    }
}

/// TPM_CC values of the commands the raw attacks send (Part 2 §6.5.2).
pub const CC_SIGN: u32 = 0x0000_015D;
pub const CC_HMAC: u32 = 0x0000_0155;
pub const CC_NV_CHANGE_AUTH: u32 = 0x0000_013B;

/// TPM2_Sign's parameters: digest, ECDSA-SHA256, the null hash-check ticket.
pub fn sign_params(digest: &[u8; 32]) -> Vec<u8> {
    let mut p = vec![0, 32];
    p.extend_from_slice(digest);
    p.extend_from_slice(&[
        0x00, 0x18, 0x00, 0x0B, 0x80, 0x24, 0x40, 0x00, 0x00, 0x07, 0, 0,
    ]);
    p
}

/// TPM2_HMAC's parameters: the buffer, SHA-256.
pub fn hmac_params(input: &[u8]) -> Vec<u8> {
    let mut p = (input.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(input);
    p.extend_from_slice(&[0x00, 0x0B]);
    p
}

/// TPM2_NV_ChangeAuth's parameter: newAuth, in the clear (the attacker has no reason to
/// hide its PIN).
pub fn change_auth_params(new_auth: &[u8]) -> Vec<u8> {
    let mut p = (new_auth.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(new_auth);
    p
}

impl Attacker {
    /// Every session the TPM holds now, loaded or saved (TPM2_GetCapability, TPM_CAP_HANDLES).
    pub fn sessions(&mut self) -> Vec<u32> {
        let mut out = Vec::new();
        for first in [0x0200_0000u32, 0x0300_0000] {
            if let Ok((tss_esapi::structures::CapabilityData::Handles(list), _)) = self
                .ctx
                .get_capability(tss_esapi::constants::CapabilityType::Handles, first, 64)
            {
                for h in list.into_inner() {
                    let h = u32::from(h);
                    if !out.contains(&h) {
                        out.push(h);
                    }
                }
            }
        }
        out
    }

    /// The TPM handle of an object this attacker loaded.
    pub fn tpm_handle(&mut self, o: impl Into<ObjectHandle>) -> u32 {
        self.ctx.tr_get_tpm_handle(o.into()).unwrap()
    }

    /// Command `cc` on `handles`, authorized by the policy session `session` — one this
    /// attacker did not start (ESYS cannot name it), so the command is marshalled here. A
    /// policy session without PolicyAuthValue needs no HMAC: naming it is enough.
    /// Returns the TPM's response code (0: it worked).
    pub fn raw_with_session(
        &mut self,
        cc: u32,
        handles: &[u32],
        session: u32,
        params: &[u8],
    ) -> u32 {
        let mut auth = session.to_be_bytes().to_vec();
        auth.extend_from_slice(&[0, 32]);
        auth.extend_from_slice(&[0x5a; 32]);
        // continueSession set: the attacker would like to use it again.
        auth.push(0x01);
        auth.extend_from_slice(&[0, 0]);
        let mut body = Vec::new();
        for h in handles {
            body.extend_from_slice(&h.to_be_bytes());
        }
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(&auth);
        body.extend_from_slice(params);
        let mut cmd = 0x8002u16.to_be_bytes().to_vec();
        cmd.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
        cmd.extend_from_slice(&cc.to_be_bytes());
        cmd.extend_from_slice(&body);
        let r = self.ctx.raw_command(&cmd).unwrap();
        u32::from_be_bytes([r[6], r[7], r[8], r[9]])
    }
}

/// A response code's meaning, for assertion messages.
pub fn rc_text(rc: u32) -> String {
    if rc == 0 {
        return "success".into();
    }
    format!(
        "{rc:#x} ({})",
        tss_esapi::constants::response_code::Tss2ResponseCode::from(rc)
    )
}

impl Attacker {
    /// A PIN change's policy session completed the way the design allows anyone who knows
    /// the old PIN — PolicyCommandCode(NV_ChangeAuth), PolicySecret(index, `old`) with no
    /// cpHashA, PolicyAuthorize with the approval in the (public) index record, PolicyOR —
    /// i.e. what our PIN change built before its proof was bound (the E3 control).
    /// Returns the session's TPM handle.
    pub fn change_session(&mut self, record: &[u8], old: &[u8]) -> u32 {
        use sha2::Digest as _;
        use tpm_passkey_tpm::PolicyDigest;
        const CHANGE_REF: &[u8] = b"tpm-passkey PIN change";
        assert_eq!(record[0], 2, "a sealed index record");
        let handle = u32::from_be_bytes([record[1], record[2], record[3], record[4]]);
        let name_len = usize::from(record[5]);
        let name = &record[6..6 + name_len];
        let rest = &record[6 + name_len..];
        let (write_branch, x, y, approval) =
            (&rest[..32], &rest[32..64], &rest[64..96], &rest[96..160]);
        let nv = self.nv(handle);
        self.ctx
            .tr_set_auth(nv.into(), Auth::try_from(old.to_vec()).unwrap())
            .unwrap();
        let s = self.policy_session();
        let p = PolicySession::try_from(s).unwrap();
        self.ctx
            .policy_command_code(p, CommandCode::NvChangeAuth)
            .unwrap();
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.policy_secret(
                    p,
                    AuthHandle::from(nv),
                    Nonce::default(),
                    Digest::default(),
                    Nonce::default(),
                    None,
                )
            })
            .unwrap();
        // The approver's public key, as the index's policy names it.
        let attrs = ObjectAttributesBuilder::new()
            .with_user_with_auth(true)
            .with_sign_encrypt(true)
            .build()
            .unwrap();
        let params = PublicEccParametersBuilder::new_unrestricted_signing_key(
            tss_esapi::structures::EccScheme::EcDsa(tss_esapi::structures::HashScheme::new(
                HashingAlgorithm::Sha256,
            )),
            EccCurve::NistP256,
        )
        .build()
        .unwrap();
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(params)
            .with_ecc_unique_identifier(EccPoint::new(
                EccParameter::try_from(x.to_vec()).unwrap(),
                EccParameter::try_from(y.to_vec()).unwrap(),
            ))
            .build()
            .unwrap();
        let key = self
            .ctx
            .load_external_public(public, Hierarchy::Owner)
            .unwrap();
        let approver_name = self.ctx.tr_get_name(key.into()).unwrap();
        let approved = PolicyDigest::new()
            .command_code(CC_NV_CHANGE_AUTH)
            .secret(name)
            .bytes();
        let message: [u8; 32] = sha2::Sha256::new()
            .chain_update(approved)
            .chain_update(CHANGE_REF)
            .finalize()
            .into();
        let signature = tss_esapi::structures::Signature::EcDsa(
            tss_esapi::structures::EccSignature::create(
                HashingAlgorithm::Sha256,
                EccParameter::try_from(approval[..32].to_vec()).unwrap(),
                EccParameter::try_from(approval[32..].to_vec()).unwrap(),
            )
            .unwrap(),
        );
        let ticket = self
            .ctx
            .verify_signature(key, Digest::try_from(message.to_vec()).unwrap(), signature)
            .unwrap();
        self.ctx.flush_context(key.into()).unwrap();
        self.ctx
            .policy_authorize(
                p,
                Digest::try_from(approved.to_vec()).unwrap(),
                Nonce::try_from(CHANGE_REF.to_vec()).unwrap(),
                &approver_name,
                ticket,
            )
            .unwrap();
        let change_branch = PolicyDigest::authorize(approver_name.value(), CHANGE_REF).bytes();
        let mut list = tss_esapi::structures::DigestList::new();
        list.add(Digest::try_from(write_branch.to_vec()).unwrap())
            .unwrap();
        list.add(Digest::try_from(change_branch.to_vec()).unwrap())
            .unwrap();
        self.ctx.policy_or(p, list).unwrap();
        self.tpm_handle(tss_esapi::handles::SessionHandle::from(s))
    }
}

impl Attacker {
    /// Loads `blob` under whichever transient object in the TPM takes it — on a TPM
    /// without a resource manager, the other program's own loaded root (swtpm has only
    /// three transient slots, so a root of its own may not fit beside ours).
    pub fn load_under_someone_s_root(&mut self, blob: &[u8]) -> KeyHandle {
        let (public, private) = split_blob(blob);
        let Ok((tss_esapi::structures::CapabilityData::Handles(list), _)) =
            self.ctx.get_capability(
                tss_esapi::constants::CapabilityType::Handles,
                0x8000_0000,
                16,
            )
        else {
            panic!("no transient handles");
        };
        for h in list.into_inner() {
            let Ok(parent) = self.ctx.tr_from_tpm_public(h) else {
                continue;
            };
            let loaded = self
                .ctx
                .execute_with_session(Some(AuthSession::Password), |c| {
                    c.load(parent.into(), private.clone(), public.clone())
                });
            let _ = self.ctx.tr_close(&mut parent.clone());
            if let Ok(k) = loaded {
                return k;
            }
        }
        panic!("no loaded object is the root of this blob");
    }
}

impl Attacker {
    /// An ECDSA signing primary of the attacker's own in the null hierarchy (empty
    /// authValue, userWithAuth): something to name other sessions in a Sign with.
    pub fn own_signing_key(&mut self) -> KeyHandle {
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_sign_encrypt(true)
            .with_no_da(true)
            .build()
            .unwrap();
        let params = PublicEccParametersBuilder::new_unrestricted_signing_key(
            tss_esapi::structures::EccScheme::EcDsa(tss_esapi::structures::HashScheme::new(
                HashingAlgorithm::Sha256,
            )),
            EccCurve::NistP256,
        )
        .build()
        .unwrap();
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(params)
            .with_ecc_unique_identifier(EccPoint::default())
            .build()
            .unwrap();
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.create_primary(Hierarchy::Null, public, None, None, None, None)
            })
            .unwrap()
            .key_handle
    }
}
