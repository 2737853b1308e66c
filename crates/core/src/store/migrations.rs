//! Schema migrations, applied in order; `PRAGMA user_version` records how far a file is.
//! A file from a newer build is refused rather than guessed at.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: first schema.
    "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE credentials (
        id BLOB PRIMARY KEY,
        rp_id TEXT NOT NULL,
        rp_name TEXT,
        user_id BLOB NOT NULL,
        user_name TEXT,
        user_display_name TEXT,
        key_blob BLOB NOT NULL,
        public_key BLOB NOT NULL,
        pin_bound INTEGER NOT NULL,
        cred_protect INTEGER NOT NULL,
        hmac_secret INTEGER NOT NULL,
        created INTEGER NOT NULL,
        last_used INTEGER,
        sign_count INTEGER NOT NULL DEFAULT 0
     );
     CREATE UNIQUE INDEX credentials_rp_user ON credentials (rp_id, user_id);
     CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        event TEXT NOT NULL,
        rp_id TEXT,
        detail TEXT,
        outcome TEXT NOT NULL,
        hash BLOB NOT NULL
     );",
    // 2: the requesting application beside each audit event.
    "ALTER TABLE audit ADD COLUMN client TEXT;",
    // 3: the user's per-site rules ("block", "require_pin").
    "CREATE TABLE site_rules (rp_id TEXT PRIMARY KEY, rule TEXT NOT NULL);",
    // 4: where hmac-secret is computed: 0 = from the install secret (credentials made
    // before), 1 = in the key store (the TPM). Existing rows keep 0, so their PRF outputs
    // do not change.
    "ALTER TABLE credentials ADD COLUMN prf_in_key_store INTEGER NOT NULL DEFAULT 0;",
    // 5: credBlob (CTAP 2.1 §12.2), kept for the relying party.
    "ALTER TABLE credentials ADD COLUMN cred_blob BLOB;",
    // 6: largeBlobs (CTAP 2.1 §6.10, §12.3): each credential's largeBlobKey, and the one
    // serialized large-blob array.
    "ALTER TABLE credentials ADD COLUMN large_blob_key BLOB;
     CREATE TABLE large_blobs (id INTEGER PRIMARY KEY CHECK (id = 0), data BLOB NOT NULL);",
    // 7: step-up by risk: the sites that have had a verified (PIN) ceremony here.
    "CREATE TABLE known_sites (rp_id TEXT PRIMARY KEY, since INTEGER NOT NULL);",
    // 8: the anti-rollback seal: the key store's counter value at the last change and a MAC
    // over it and the sealed content (store/seal.rs).
    "CREATE TABLE seal (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER NOT NULL, mac BLOB NOT NULL);",
    // 9: the audit log's TPM-certified checkpoints (store/checkpoints.rs): the entry they
    // vouch for, its chain head, the rollback counter then, and the TPM's statement.
    "CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY,
        head BLOB NOT NULL,
        counter INTEGER NOT NULL,
        attest BLOB NOT NULL,
        signature BLOB NOT NULL
     );",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
