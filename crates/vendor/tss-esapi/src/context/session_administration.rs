// Copyright 2021 Contributors to the Parsec project.
// SPDX-License-Identifier: Apache-2.0
use crate::{
    attributes::{SessionAttributes, SessionAttributesMask},
    handles::SessionHandle,
    interface_types::session_handles::AuthSession,
    structures::Nonce,
    tss2_esys::{Esys_TRSess_GetAttributes, Esys_TRSess_GetNonceTPM, Esys_TRSess_SetAttributes},
    Context, Error, Result,
};
use log::error;
use std::convert::TryFrom;
use std::ptr::null_mut;

impl Context {
    /// Set the given attributes on a given session.
    pub fn tr_sess_set_attributes(
        &mut self,
        session: AuthSession,
        attributes: SessionAttributes,
        mask: SessionAttributesMask,
    ) -> Result<()> {
        let ret = unsafe {
            Esys_TRSess_SetAttributes(
                self.mut_context(),
                SessionHandle::from(session).into(),
                attributes.into(),
                mask.into(),
            )
        };
        let ret = Error::from_tss_rc(ret);
        if ret.is_success() {
            Ok(())
        } else {
            error!("Error when setting session attributes: {}", ret);
            Err(ret)
        }
    }

    /// Get session attribute flags.
    pub fn tr_sess_get_attributes(&mut self, session: AuthSession) -> Result<SessionAttributes> {
        let mut flags = 0;
        let ret = unsafe {
            Esys_TRSess_GetAttributes(
                self.mut_context(),
                SessionHandle::from(session).into(),
                &mut flags,
            )
        };
        let ret = Error::from_tss_rc(ret);
        if ret.is_success() {
            Ok(SessionAttributes(flags))
        } else {
            error!("Error when getting session attributes: {}", ret);
            Err(ret)
        }
    }

    /// The TPM's current nonce of a session (nonceTPM), e.g. to bind a signature for
    /// TPM2_PolicySigned to this session (TPM 2.0 Part 3 §23.3).
    ///
    /// (Added by tpm-passkey to its vendored copy of tss-esapi 7.7.0; see
    /// crates/vendor/README.md.)
    pub fn tr_sess_get_nonce_tpm(&mut self, session: AuthSession) -> Result<Nonce> {
        let mut nonce_ptr = null_mut();
        let ret = unsafe {
            Esys_TRSess_GetNonceTPM(
                self.mut_context(),
                SessionHandle::from(session).into(),
                &mut nonce_ptr,
            )
        };
        let ret = Error::from_tss_rc(ret);
        if ret.is_success() {
            Nonce::try_from(Context::ffi_data_to_owned(nonce_ptr))
        } else {
            error!("Error when getting the session's nonceTPM: {}", ret);
            Err(ret)
        }
    }
}
