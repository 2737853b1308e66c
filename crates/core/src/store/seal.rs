//! The store's anti-rollback seal (docs/DESIGN.md "Rollback seal"): one row holding the value
//! of the key store's monotonic counter at the last change, and a MAC — computed where the
//! keys live — over that value and a digest of everything the seal covers.
//!
//! Covered: credentials (all but their sign count and last use, which change on every
//! sign-in), site rules, settings (but the global sign counter), secrets (the key store's
//! state, the install secret) and the large-blob array. Not covered: the audit log (it has
//! its own chain) and the known sites of step-up (rolling them back only asks for the PIN
//! more often).

use rusqlite::{types::ValueRef, OptionalExtension};
use sha2::{Digest as _, Sha256};

use super::{Store, StoreError};

/// What the seal's MAC is computed over: the value and the content digest, domain-separated.
pub fn seal_message(value: u64, content: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"tpm-passkey store seal v1")
        .chain_update(value.to_be_bytes())
        .chain_update(content)
        .finalize()
        .into()
}

/// Each value typed and length-prefixed, so that no two different rows hash alike.
fn feed(h: &mut Sha256, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => h.update([0]),
        ValueRef::Integer(n) => {
            h.update([1]);
            h.update(n.to_be_bytes());
        }
        ValueRef::Real(f) => {
            h.update([2]);
            h.update(f.to_bits().to_be_bytes());
        }
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            h.update([if matches!(v, ValueRef::Text(_)) { 3 } else { 4 }]);
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
    }
}

impl Store {
    /// The seal as stored: (counter value, MAC); None before the first seal.
    pub fn seal(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row("SELECT value, mac FROM seal WHERE id = 0", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(v, mac)| {
            u64::try_from(v)
                .map(|v| (v, mac))
                .map_err(|_| StoreError::Malformed("seal"))
        })
        .transpose()
    }

    /// Writes the seal (inside the transaction of the change it seals).
    pub(super) fn write_seal(&self, value: u64, mac: &[u8]) -> Result<(), StoreError> {
        let value = i64::try_from(value).map_err(|_| StoreError::Malformed("seal value"))?;
        self.conn.execute(
            "INSERT INTO seal (id, value, mac) VALUES (0, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET value = excluded.value, mac = excluded.mac",
            rusqlite::params![value, mac],
        )?;
        Ok(())
    }

    /// The digest of everything the seal covers, as this connection sees it (inside a
    /// transaction: with its uncommitted changes). `unsealed_settings` are settings keys left
    /// out (the global sign counter).
    pub fn sealed_content_digest(
        &self,
        unsealed_settings: &[&str],
    ) -> Result<[u8; 32], StoreError> {
        let mut h = Sha256::new();
        let tables: [(&str, &str); 5] = [
            (
                "credentials",
                "SELECT id, rp_id, rp_name, user_id, user_name, user_display_name, key_blob,
                        public_key, pin_bound, cred_protect, hmac_secret, created,
                        prf_in_key_store, cred_blob, large_blob_key
                 FROM credentials ORDER BY id",
            ),
            (
                "site_rules",
                "SELECT rp_id, rule FROM site_rules ORDER BY rp_id",
            ),
            ("settings", "SELECT key, value FROM settings ORDER BY key"),
            ("secrets", "SELECT name, value FROM secrets ORDER BY name"),
            ("large_blobs", "SELECT data FROM large_blobs ORDER BY id"),
        ];
        for (table, sql) in tables {
            h.update(table.as_bytes());
            let mut st = self.conn.prepare(sql)?;
            let n = st.column_count();
            let mut rows = st.query([])?;
            while let Some(row) = rows.next()? {
                if table == "settings" {
                    if let ValueRef::Text(k) = row.get_ref(0)? {
                        if unsealed_settings.iter().any(|u| u.as_bytes() == k) {
                            continue;
                        }
                    }
                }
                h.update([0xFF]);
                for i in 0..n {
                    feed(&mut h, row.get_ref(i)?);
                }
            }
        }
        Ok(h.finalize().into())
    }
}
