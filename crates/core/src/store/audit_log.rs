//! The audit log: an append-only, hash-chained table. Each row's hash is
//! SHA-256(previous hash || the row's fields), so an edited or deleted row breaks the chain
//! (verify_audit_chain). The `client` column (schema 2) joins the hash only when set, so
//! rows written before it existed verify unchanged. The chain shows an edit that did not
//! recompute the hashes after it; the TPM-certified checkpoints (`checkpoints`,
//! `crate::checkpoint`) show one that did.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use tpm_passkey_ipc::AuditRecord;

use super::{Store, StoreError};
use crate::AuditEvent;

fn row_hash(prev: &[u8], time: i64, fields: [Option<&str>; 4], client: Option<&str>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(time.to_be_bytes());
    for field in fields.into_iter().chain(client.map(Some)) {
        let f = field.unwrap_or("");
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    h.finalize().to_vec()
}

/// A record from the first seven columns: seq, time, event, rp_id, detail, outcome, client.
fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        time: r.get(1)?,
        event: crate::AuditKind::from_stored(&r.get::<_, String>(2)?),
        rp_id: r.get(3)?,
        detail: r.get(4)?,
        outcome: crate::Outcome::from_stored(&r.get::<_, String>(5)?),
        client: r.get(6)?,
    })
}

/// An entry's sequence number and stored hash.
pub type ChainLink = (i64, Vec<u8>);

impl Store {
    pub fn append_audit(&self, time: i64, e: &AuditEvent) -> Result<(), StoreError> {
        let prev: Vec<u8> = self
            .conn
            .query_row(
                "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| vec![0; 32]);
        self.conn.execute(
            "INSERT INTO audit (time, event, rp_id, detail, outcome, client, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                time,
                e.kind.as_str(),
                e.rp_id,
                e.detail,
                e.outcome.as_str(),
                e.client,
                row_hash(
                    &prev,
                    time,
                    [Some(e.kind.as_str()), e.rp_id.as_deref(), e.detail.as_deref(), Some(e.outcome.as_str())],
                    e.client.as_deref(),
                )
            ],
        )?;
        Ok(())
    }

    /// The last `limit` records, oldest first.
    pub fn audit_tail(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT seq, time, event, rp_id, detail, outcome, client FROM
               (SELECT * FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
        )?;
        let rows = st.query_map([limit], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every record with its stored hash, oldest first (the export).
    pub fn audit_with_hashes(&self) -> Result<Vec<(AuditRecord, Vec<u8>)>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT seq, time, event, rp_id, detail, outcome, client, hash FROM audit ORDER BY seq",
        )?;
        let rows = st.query_map([], |r| Ok((record(r)?, r.get(7)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Recomputes the hash chain; false if any row was changed or removed.
    pub fn verify_audit_chain(&self) -> Result<bool, StoreError> {
        Ok(self.audit_chain_check()?.1.is_none())
    }

    /// Recomputes the hash chain: how many entries it has, and the sequence number of the
    /// first one whose hash does not follow from the entries before it (an entry edited,
    /// or one before it removed), if any.
    pub fn audit_chain_check(&self) -> Result<(u64, Option<i64>), StoreError> {
        let (hashes, bad) = self.audit_chain()?;
        Ok((hashes.len() as u64, bad))
    }

    /// Every entry's sequence number and stored hash, oldest first, and the first entry
    /// whose hash does not follow from those before it, if any.
    pub fn audit_chain(&self) -> Result<(Vec<ChainLink>, Option<i64>), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT time, event, rp_id, detail, outcome, hash, client, seq FROM audit ORDER BY seq",
        )?;
        let mut rows = st.query([])?;
        let mut prev = vec![0u8; 32];
        let mut out = Vec::new();
        let mut bad = None;
        while let Some(r) = rows.next()? {
            let event: String = r.get(1)?;
            let outcome: String = r.get(4)?;
            let rp_id: Option<String> = r.get(2)?;
            let detail: Option<String> = r.get(3)?;
            let client: Option<String> = r.get(6)?;
            let seq: i64 = r.get(7)?;
            let want = row_hash(
                &prev,
                r.get(0)?,
                [
                    Some(&event),
                    rp_id.as_deref(),
                    detail.as_deref(),
                    Some(&outcome),
                ],
                client.as_deref(),
            );
            let got: Vec<u8> = r.get(5)?;
            if want != got && bad.is_none() {
                bad = Some(seq);
            }
            out.push((seq, got.clone()));
            prev = got;
        }
        Ok((out, bad))
    }
}
