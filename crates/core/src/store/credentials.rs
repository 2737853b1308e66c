//! Discoverable credentials (CTAP 2.1 §6.1.2 step 15 "store the credential").

use rusqlite::{params, OptionalExtension, Row};
use tpm_passkey_wire::cose::P256Key;

use super::{Store, StoreError};

/// One discoverable credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub rp_name: Option<String>,
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// The key store's wrapped key (for the TPM: public and private areas under the root).
    pub key_blob: Vec<u8>,
    pub public_key: P256Key,
    /// Whether the key store refuses to use the key without the PIN.
    pub pin_bound: bool,
    /// credProtect level 1..=3 (§12.1).
    pub cred_protect: u8,
    pub hmac_secret: bool,
    /// hmac-secret is computed in the key store (false for credentials made before).
    pub prf_in_key_store: bool,
    /// Unix seconds.
    pub created: i64,
    pub last_used: Option<i64>,
    pub sign_count: u32,
    /// §12.2 credBlob, kept for the relying party (at most MAX_CRED_BLOB bytes).
    pub cred_blob: Option<Vec<u8>>,
    /// §12.3 largeBlobKey: the key the relying party encrypts this credential's large blob
    /// with (32 random bytes), when one was asked for.
    pub large_blob_key: Option<Vec<u8>>,
}

const COLUMNS: &str =
    "id, rp_id, rp_name, user_id, user_name, user_display_name, key_blob, public_key,
    pin_bound, cred_protect, hmac_secret, created, last_used, sign_count, prf_in_key_store,
    cred_blob, large_blob_key";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Credential> {
    let pk: Vec<u8> = r.get(7)?;
    let public_key = P256Key::from_sec1(&pk).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            7,
            rusqlite::types::Type::Blob,
            "public key".into(),
        )
    })?;
    Ok(Credential {
        id: r.get(0)?,
        rp_id: r.get(1)?,
        rp_name: r.get(2)?,
        user_id: r.get(3)?,
        user_name: r.get(4)?,
        user_display_name: r.get(5)?,
        key_blob: r.get(6)?,
        public_key,
        pin_bound: r.get(8)?,
        cred_protect: r.get(9)?,
        hmac_secret: r.get(10)?,
        created: r.get(11)?,
        last_used: r.get(12)?,
        sign_count: r.get(13)?,
        prf_in_key_store: r.get(14)?,
        cred_blob: r.get(15)?,
        large_blob_key: r.get(16)?,
    })
}

impl Store {
    /// Stores a credential, replacing any with the same rpId and user handle (§6.1.2 step
    /// 15: "the new credential replaces the existing one").
    pub(super) fn put_credential(&self, c: &Credential) -> Result<(), StoreError> {
        self.atomically(|s| s.put_credential_steps(c))
    }

    fn put_credential_steps(&self, c: &Credential) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM credentials WHERE rp_id = ?1 AND user_id = ?2",
            params![c.rp_id, c.user_id],
        )?;
        self.conn.execute(
            &format!("INSERT INTO credentials ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
            params![
                c.id,
                c.rp_id,
                c.rp_name,
                c.user_id,
                c.user_name,
                c.user_display_name,
                c.key_blob,
                c.public_key.to_sec1().to_vec(),
                c.pin_bound,
                c.cred_protect,
                c.hmac_secret,
                c.created,
                c.last_used,
                c.sign_count,
                c.prf_in_key_store,
                c.cred_blob,
                c.large_blob_key
            ],
        )?;
        Ok(())
    }

    /// Stores many credentials in one transaction (bulk import, and the bench's seeding of
    /// thousands of passkeys without a TPM create each).
    pub(super) fn put_credentials(&self, cs: &[Credential]) -> Result<(), StoreError> {
        self.atomically(|s| cs.iter().try_for_each(|c| s.put_credential_steps(c)))
    }

    /// Each relying party with a stored credential, by rpId, with the name given by its
    /// most recent registration: one row per site, read from the (rp_id, user_id) index,
    /// so that listing the sites does not read every credential and its key blob.
    pub fn relying_parties(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT rp_id, rp_name FROM credentials WHERE rowid IN
               (SELECT (SELECT rowid FROM credentials AS c WHERE c.rp_id = r.rp_id
                        ORDER BY created DESC, rowid DESC LIMIT 1)
                FROM (SELECT DISTINCT rp_id FROM credentials) AS r)
             ORDER BY rp_id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The rpId of every relying party with a stored credential (a scan of the index only).
    pub fn rp_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT rp_id FROM credentials ORDER BY rp_id")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn credential(&self, id: &[u8]) -> Result<Option<Credential>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM credentials WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?)
    }

    /// The credentials of one relying party, most recently created first (§6.2.2 step 9:
    /// "ordered by most recently created").
    pub fn credentials_for_rp(&self, rp_id: &str) -> Result<Vec<Credential>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM credentials WHERE rp_id = ?1 ORDER BY created DESC, rowid DESC"
        ))?;
        let rows = st.query_map([rp_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every credential, grouped by relying party.
    pub fn all_credentials(&self) -> Result<Vec<Credential>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM credentials ORDER BY rp_id, created DESC, rowid DESC"
        ))?;
        let rows = st.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The serialized large-blob array (§6.10), if one was ever written.
    pub fn large_blob_array(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT data FROM large_blobs WHERE id = 0", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Replaces the serialized large-blob array.
    pub(super) fn set_large_blob_array(&self, data: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO large_blobs (id, data) VALUES (0, ?1)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            [data],
        )?;
        Ok(())
    }

    pub fn credential_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM credentials", [], |r| r.get(0))?)
    }

    /// Deletes one credential; true if it existed.
    pub(super) fn delete_credential(&self, id: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM credentials WHERE id = ?1", [id])?
            > 0)
    }

    /// Replaces name and displayName (§6.8.6 updateUserInformation).
    pub(super) fn update_user(
        &self,
        id: &[u8],
        name: Option<&str>,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE credentials SET user_name = ?2, user_display_name = ?3 WHERE id = ?1",
            params![id, name, display_name],
        )? > 0)
    }

    /// Counts one use: increments the signature counter and records the time; returns the
    /// new counter value.
    pub fn touch_credential(&self, id: &[u8], now: i64) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "UPDATE credentials SET sign_count = sign_count + 1, last_used = ?2 WHERE id = ?1 RETURNING sign_count",
            params![id, now],
            |r| r.get(0),
        )?)
    }
}
