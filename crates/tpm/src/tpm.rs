//! The connection to one TPM, with the root key loaded for the connection's lifetime.

use tss_esapi::{
    constants::response_code::Tss2ResponseCodeKind as Kind,
    handles::{KeyHandle, NvIndexHandle, NvIndexTpmHandle, ObjectHandle, TpmHandle},
    interface_types::resource_handles::Hierarchy,
    structures::Auth,
    Context,
};

use crate::{
    session::{
        run_then_flush, start_salted_hmac, with_empty_password, ParamEncryption,
        NO_PARAM_ENCRYPTION,
    },
    templates, Error, OwnerAuth, Result, RootSeed, TctiChoice, TctiSource, Watchdog,
};

/// How long the liveness probe before a (re)connection waits for a TPM without a resource
/// manager (swtpm answers a GetCapability in well under a millisecond).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// An open TPM with this install's root key loaded.
#[derive(Debug)]
pub struct Tpm {
    pub(crate) ctx: Context,
    pub(crate) root: KeyHandle,
    /// The root's public point (x, y) as the TPM reported it, for the salt of the one
    /// session this crate starts itself (`change_auth`).
    pub(crate) root_point: (Vec<u8>, Vec<u8>),
    /// The ESYS object of the PIN index, of the rollback counter and of the audit index last opened, by TPM
    /// handle ([`NvSlot`]), so that each operation does not read the index's public area
    /// again.
    nv_objects: [Option<(u32, NvIndexHandle)>; 4],
    /// The salted HMAC session kept for PIN work (see `pin_session`).
    pub(crate) pin_hmac: Option<tss_esapi::interface_types::session_handles::AuthSession>,
    /// The policy session of the last PIN check, satisfied, waiting for its signature.
    pub(crate) ready: Option<crate::pin_session::ReadyPolicy>,
    tcti: TctiChoice,
    owner_auth_set: bool,
    /// The connection broke: nothing can be flushed any more.
    lost: bool,
}

impl Tpm {
    /// Connects through `tcti` and creates (re-derives) the root key from `seed`.
    /// `owner_auth` is the owner-hierarchy password when one is set (see
    /// [`crate::OwnerAuthStore`]); with none, the empty password is used.
    pub fn open(
        tcti: &TctiChoice,
        seed: &RootSeed,
        owner_auth: Option<&OwnerAuth>,
    ) -> Result<Self> {
        Self::open_watched(tcti, seed, owner_auth, None)
    }

    /// [`Tpm::open`] with the connection's sockets handed to `watchdog` as soon as they
    /// exist, and the root's creation under its deadline.
    pub fn open_watched(
        tcti: &TctiChoice,
        seed: &RootSeed,
        owner_auth: Option<&OwnerAuth>,
        watchdog: Option<&Watchdog>,
    ) -> Result<Self> {
        if !tcti.has_resource_manager() {
            // With a watchdog (the daemon) this is also the liveness probe: a TPM that does
            // not answer a raw GetCapability within PROBE_TIMEOUT is not connected to.
            let probe = watchdog.map(|w| w.deadline().min(PROBE_TIMEOUT));
            crate::stale::flush_stale(tcti, probe).map_err(|detail| Error::Connect {
                tcti: tcti.as_str().to_owned(),
                detail,
            })?;
        }
        crate::esys_openssl::linked();
        let mut ctx = Context::new(tcti.name_conf()?).map_err(|e| Error::Connect {
            tcti: tcti.as_str().to_owned(),
            detail: e.to_string(),
        })?;
        let owner_auth_set = owner_auth.is_some_and(|a| !a.expose_secret_bytes().is_empty());
        if let Some(a) = owner_auth.filter(|_| owner_auth_set) {
            let auth =
                Auth::try_from(a.expose_secret_bytes().to_vec()).map_err(|_| Error::Tpm {
                    op: "owner auth",
                    code: "owner password longer than the TPM allows".into(),
                })?;
            ctx.tr_set_auth(Hierarchy::Owner.into(), auth)
                .map_err(|e| Error::tss("owner auth", e))?;
        }
        let armed = watchdog.map(|w| {
            w.watch(crate::watchdog::connection_target(&mut ctx, tcti));
            w.arm()
        });
        let root = create_root(&mut ctx, seed, owner_auth_set);
        drop(armed);
        let (root, root_point) = root.inspect_err(|_| {
            if let Some(w) = watchdog {
                w.forget();
            }
        })?;
        tracing::debug!(tcti = tcti.as_str(), "TPM opened, root key loaded");
        Ok(Tpm {
            ctx,
            root,
            root_point,
            nv_objects: [None, None, None, None],
            pin_hmac: None,
            ready: None,
            tcti: tcti.clone(),
            owner_auth_set,
            lost: false,
        })
    }

    /// One TPM2_ReadPublic of the root: the cheapest command that proves both that the TPM
    /// answers and that it still holds what this connection made in it — after a reset,
    /// a restart or a clear of the owner hierarchy the root is gone ([`Error::StateLost`]).
    pub fn ping(&mut self) -> Result<()> {
        let root = self.root;
        self.ctx
            .execute_without_session(|c| c.read_public(root))
            .map(|_| ())
            .map_err(|e| Error::tss("ping", e))
    }

    /// Marks the connection broken: dropping it then sends nothing more to the TPM.
    pub(crate) fn abandon(&mut self) {
        self.lost = true;
    }

    /// The root key's Name (TPM 2.0 Part 1 §16): a digest of its public area, which is
    /// derived from the owner hierarchy's seed and ours. Another value for the same seed
    /// means the TPM was cleared or is another TPM.
    pub fn root_name(&mut self) -> Result<Vec<u8>> {
        let name = self
            .ctx
            .tr_get_name(self.root.into())
            .map_err(|e| Error::tss("root name", e))?;
        Ok(name.value().to_vec())
    }

    /// Replaces the root with the one derived from `seed` (authenticator reset: the old
    /// seed is gone, so is every key made under the old root).
    pub fn replace_root(&mut self, seed: &RootSeed) -> Result<()> {
        self.drop_ready_policy();
        self.drop_pin_hmac_session();
        let (root, point) = create_root(&mut self.ctx, seed, self.owner_auth_set)?;
        self.root_point = point;
        let old = std::mem::replace(&mut self.root, root);
        self.flush_object(old.into());
        Ok(())
    }

    /// The interface this connection uses.
    pub fn tcti(&self) -> &TctiChoice {
        &self.tcti
    }

    /// True when this is the embedded simulator: keys are then not hardware-protected.
    pub fn is_simulated(&self) -> bool {
        self.tcti.source() == TctiSource::Simulator
    }

    /// Runs `f` authorized as the owner through a salted HMAC session: the kept one when
    /// no parameter is encrypted (reading the PIN counter), else a fresh one.
    pub(crate) fn as_owner<T>(
        &mut self,
        enc: ParamEncryption,
        op: &'static str,
        f: impl FnOnce(&mut Context) -> Result<T>,
    ) -> Result<T> {
        if !enc.decrypt && !enc.encrypt {
            let session = self.pin_hmac_session(op)?;
            let out = self.ctx.execute_with_session(Some(session), f);
            if out.is_err() {
                self.drop_pin_hmac_session();
            }
            return out;
        }
        let session = start_salted_hmac(&mut self.ctx, self.root, enc, op)?;
        run_then_flush(&mut self.ctx, session, f)
    }

    /// The ESYS object of the NV index at `handle`, kept per `slot`; NoPinIndex when the TPM
    /// has no index there.
    pub(crate) fn nv_object(
        &mut self,
        slot: NvSlot,
        handle: u32,
        op: &'static str,
    ) -> Result<NvIndexHandle> {
        if let Some((h, nv)) = self.nv_objects[slot as usize] {
            if h == handle {
                return Ok(nv);
            }
        }
        let tpm_handle = NvIndexTpmHandle::new(handle).map_err(|e| Error::tss(op, e))?;
        let obj = self
            .ctx
            .tr_from_tpm_public(TpmHandle::NvIndex(tpm_handle))
            .map_err(|e| match Error::kind_of(&e) {
                Some(Kind::Handle) => Error::NoPinIndex(handle),
                _ => Error::tss(op, e),
            })?;
        let nv = NvIndexHandle::from(obj);
        self.cache_nv(slot, handle, nv);
        Ok(nv)
    }

    /// Remembers `nv` as the ESYS object of `handle` in `slot`, closing the one it replaces.
    pub(crate) fn cache_nv(&mut self, slot: NvSlot, handle: u32, nv: NvIndexHandle) {
        if let Some((_, old)) = self.nv_objects[slot as usize].replace((handle, nv)) {
            if old != nv {
                let _ = self.ctx.tr_close(&mut ObjectHandle::from(old));
            }
        }
    }

    /// Forgets `slot`'s object (its index was undefined: ESYS closed the object with it).
    pub(crate) fn forget_nv(&mut self, slot: NvSlot) {
        self.nv_objects[slot as usize] = None;
    }

    /// Flushes a transient object, logging (not failing) if the TPM says no.
    pub(crate) fn flush_object(&mut self, handle: ObjectHandle) {
        if let Err(e) = self.ctx.flush_context(handle) {
            tracing::warn!(error = %e, "could not flush a transient object");
        }
    }
}

impl Tpm {
    /// Runs `define` (a new NV index of ours: PIN index, rollback counter, audit index) at
    /// random handles of the owner range until one is free, 16 tries at most.
    pub(crate) fn define_at_free_handle<T>(
        &mut self,
        mut define: impl FnMut(&mut Tpm, u32) -> Result<T>,
    ) -> Result<T> {
        let mut tries = 0;
        loop {
            match define(self, random_nv_handle()?) {
                Err(Error::IndexInUse(_)) if tries < 16 => tries += 1,
                other => return other,
            }
        }
    }
}

/// A random handle in the owner NV range ([`crate::PIN_INDEX_RANGE`]).
fn random_nv_handle() -> Result<u32> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|_| Error::Tpm {
        op: "NV index handle",
        code: "no OS randomness".into(),
    })?;
    let range = crate::PIN_INDEX_RANGE;
    let span = range.end() - range.start() + 1;
    Ok(range.start() + u32::from_be_bytes(b) % span)
}

/// Which NV index an ESYS object is kept for ([`Tpm::nv_object`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum NvSlot {
    Pin = 0,
    Counter = 1,
    Audit = 2,
    Epoch = 3,
}

/// The root's handle and public point.
type Root = (KeyHandle, (Vec<u8>, Vec<u8>));

/// Creates (re-derives) the root key from `seed` in the owner hierarchy.
fn create_root(ctx: &mut Context, seed: &RootSeed, owner_auth_set: bool) -> Result<Root> {
    let template = templates::root(seed.expose_secret_bytes())?;
    let root = if owner_auth_set {
        // The owner password must not be sent in the clear, nor as an HMAC an observer
        // could brute-force: salt the session to a throw-away key of the null
        // hierarchy, which needs no authorization.
        let salt_template = templates::root(&[0; 32])?;
        let salt = with_empty_password(ctx, |c| {
            c.create_primary(Hierarchy::Null, salt_template, None, None, None, None)
        })
        .map_err(|e| Error::tss("salt key", e))?
        .key_handle;
        let made = start_salted_hmac(ctx, salt, NO_PARAM_ENCRYPTION, "create root").and_then(|s| {
            run_then_flush(ctx, s, |c| {
                c.create_primary(Hierarchy::Owner, template, None, None, None, None)
                    .map_err(|e| Error::tss("create root", e))
            })
        });
        let _ = ctx.flush_context(salt.into());
        made?
    } else {
        with_empty_password(ctx, |c| {
            c.create_primary(Hierarchy::Owner, template, None, None, None, None)
        })
        .map_err(|e| Error::tss("create root", e))?
    };
    let point = match &root.out_public {
        tss_esapi::structures::Public::Ecc { unique, .. } => {
            (unique.x().value().to_vec(), unique.y().value().to_vec())
        }
        _ => (Vec::new(), Vec::new()),
    };
    Ok((root.key_handle, point))
}

impl Drop for Tpm {
    fn drop(&mut self) {
        // The root is re-derived on every open; leaving it loaded would use up one of the
        // TPM's few transient slots for other programs.
        if self.lost {
            return;
        }
        self.drop_ready_policy();
        self.drop_pin_hmac_session();
        let root = self.root;
        self.flush_object(root.into());
    }
}
