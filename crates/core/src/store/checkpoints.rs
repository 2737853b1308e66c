//! The audit log's checkpoints (docs/DESIGN.md "Audit checkpoints"): each one the TPM's
//! signed statement that its audit index was extended with the chain head at one entry.
//! Kept beside the log, outside the seal: they are checked against the TPM, not trusted.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// One checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The audit entry whose chain head it vouches for.
    pub seq: i64,
    pub head: Vec<u8>,
    /// The rollback counter's value when it was made (0 without one).
    pub counter: u64,
    /// TPMS_ATTEST of TPM2_NV_Certify, and the attestation key's signature over it.
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        seq: r.get(0)?,
        head: r.get(1)?,
        counter: r.get::<_, i64>(2)? as u64,
        attest: r.get(3)?,
        signature: r.get(4)?,
    })
}

impl Store {
    pub fn put_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit_checkpoints (seq, head, counter, attest, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.seq, c.head, c.counter as i64, c.attest, c.signature],
        )?;
        Ok(())
    }

    /// Stores the statement of the checkpoint at `seq` (written first without one).
    pub fn set_checkpoint_statement(
        &self,
        seq: i64,
        attest: &[u8],
        signature: &[u8],
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE audit_checkpoints SET attest = ?2, signature = ?3 WHERE seq = ?1",
            params![seq, attest, signature],
        )?;
        Ok(())
    }

    /// Drops the checkpoint at `seq` (one a crash left unfinished and never extended).
    pub fn delete_checkpoint(&self, seq: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM audit_checkpoints WHERE seq = ?1", [seq])?;
        Ok(())
    }

    /// How many audit entries came after the last checkpoint.
    pub fn entries_since_checkpoint(&self) -> Result<u32, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM audit WHERE seq > coalesce((SELECT max(seq) FROM audit_checkpoints), 0)",
            [],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Every checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT seq, head, counter, attest, signature FROM audit_checkpoints ORDER BY seq",
        )?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last checkpoint, if any.
    pub fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, head, counter, attest, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
                [],
                row,
            )
            .optional()?)
    }

    /// The last audit entry's sequence number and chain head.
    pub fn audit_head(&self) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
