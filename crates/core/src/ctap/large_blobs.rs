//! authenticatorLargeBlobs, CTAP 2.1 §6.10: the serialized large-blob array, read and
//! written in fragments. The array is opaque here (relying parties encrypt their blobs
//! with each credential's largeBlobKey, §12.3); the authenticator checks only its
//! trailing hash before it replaces the stored one, so a torn or forged write changes
//! nothing.

use tpm_passkey_wire::ctap2::{LargeBlobs, LargeBlobsResponse};
use tpm_passkey_wire::Status;

use crate::pin::protocol::Protocol;
use crate::pin::token::permission;
use crate::secret::sha256;
use crate::session::{LargeBlobWrite, Session};
use crate::{Approver, Clock, Engine, KeyStore};

/// maxSerializedLargeBlobArray (getInfo 0x0B; §6.10: at least 1024).
pub(crate) const MAX_SERIALIZED_LARGE_BLOB_ARRAY: usize = 8192;
/// The longest fragment: maxMsgSize minus 64 (§6.10.2).
const MAX_FRAGMENT: u64 = 7609 - 64;
/// The array before anything is written: an empty CBOR array and the first 16 bytes of its
/// SHA-256 (§6.10.2).
const INITIAL: [u8; 17] = [
    0x80, 0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d,
    0x3c,
];

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn large_blobs_cmd(
        &mut self,
        req: LargeBlobs,
    ) -> Result<LargeBlobsResponse, Status> {
        match (req.get, &req.set) {
            (Some(get), None) => self.read_large_blobs(&req, get),
            (None, Some(_)) => self
                .write_large_blobs(req)
                .map(|()| LargeBlobsResponse::default()),
            // §6.10.2 steps 1–2: exactly one of get and set.
            _ => Err(Status::InvalidParameter),
        }
    }

    /// §6.10.2 "get": a fragment of the stored array (no authorization: the blobs are
    /// encrypted by their relying parties).
    fn read_large_blobs(
        &mut self,
        req: &LargeBlobs,
        get: u64,
    ) -> Result<LargeBlobsResponse, Status> {
        if req.length.is_some() {
            return Err(Status::InvalidParameter);
        }
        if get > MAX_FRAGMENT {
            return Err(Status::InvalidLength);
        }
        let array = self
            .store
            .large_blob_array()?
            .unwrap_or_else(|| INITIAL.to_vec());
        let offset = usize::try_from(req.offset).map_err(|_| Status::InvalidParameter)?;
        if offset > array.len() {
            return Err(Status::InvalidParameter);
        }
        let end = offset.saturating_add(get as usize).min(array.len());
        Ok(LargeBlobsResponse {
            config: Some(array[offset..end].to_vec()),
        })
    }

    /// §6.10.2 "set": fragments in order, authorized with a token carrying lbw once a PIN
    /// exists, checked as a whole when the last arrives, then stored in one step.
    fn write_large_blobs(&mut self, req: LargeBlobs) -> Result<(), Status> {
        let set = req.set.unwrap_or_default();
        if set.len() as u64 > MAX_FRAGMENT {
            return Err(Status::InvalidLength);
        }
        let mut pending = match std::mem::take(&mut self.session) {
            Session::LargeBlobWrite(w) => Some(w),
            _ => None,
        };
        if req.offset == 0 {
            let length = req.length.ok_or(Status::InvalidParameter)?;
            if length > MAX_SERIALIZED_LARGE_BLOB_ARRAY as u64 {
                return Err(Status::LargeBlobStorageFull);
            }
            if length < 17 {
                return Err(Status::InvalidParameter);
            }
            pending = Some(LargeBlobWrite {
                expected_length: length as usize,
                buffer: Vec::with_capacity(length as usize),
            });
        } else {
            if req.length.is_some() {
                return Err(Status::InvalidParameter);
            }
            match &pending {
                Some(w) if w.buffer.len() as u64 == req.offset => {}
                _ => return Err(Status::InvalidSeq),
            }
        }
        // Once a PIN exists (or alwaysUv), a token with lbw over
        // 32×0xff ‖ h'0c00' ‖ uint32LE(offset) ‖ SHA-256(set).
        if self.keys.pin_is_set() || self.settings().always_uv {
            let param = req
                .pin_uv_auth_param
                .as_deref()
                .ok_or(Status::PuatRequired)?;
            let protocol =
                Protocol::from_number(req.pin_uv_auth_protocol.ok_or(Status::MissingParameter)?)?;
            let offset = u32::try_from(req.offset).map_err(|_| Status::InvalidParameter)?;
            let mut message = vec![0xff; 32];
            message.extend_from_slice(&[0x0c, 0x00]);
            message.extend_from_slice(&offset.to_le_bytes());
            message.extend_from_slice(&sha256(&set));
            let now = self.now();
            self.pin
                .check_token(protocol, &message, param, permission::LBW, None, now)?;
        }
        let Some(mut w) = pending else {
            return Err(Status::InvalidSeq);
        };
        if w.buffer.len() + set.len() > w.expected_length {
            return Err(Status::InvalidParameter);
        }
        w.buffer.extend_from_slice(&set);
        if w.buffer.len() < w.expected_length {
            self.session = Session::LargeBlobWrite(w);
            return Ok(());
        }
        let (array, check) = w.buffer.split_at(w.buffer.len() - 16);
        if sha256(array)[..16] != *check {
            return Err(Status::IntegrityFailure);
        }
        self.sealed_change(|s| s.set_large_blob_array(&w.buffer))?;
        Ok(())
    }
}
