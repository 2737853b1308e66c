//! What a same-user program can do to the store file: rewrite audit entries and recompute
//! the whole hash chain after them (its format is no secret), so that the chain alone
//! holds — the attack the TPM's audit checkpoints are there to catch.

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

/// Recomputes every audit row's hash as the store does: SHA-256(previous hash ‖ time ‖
/// each field as u64 length ‖ bytes), the client joining only when set.
pub fn recompute_audit_chain(db: &Connection) {
    type Row = (i64, i64, Vec<Option<String>>);
    let rows: Vec<Row> = db
        .prepare("SELECT seq, time, event, rp_id, detail, outcome, client FROM audit ORDER BY seq")
        .and_then(|mut st| {
            st.query_map([], |r| {
                let client: Option<String> = r.get(6)?;
                let mut fields = vec![
                    Some(r.get::<_, String>(2)?),
                    r.get(3)?,
                    r.get(4)?,
                    Some(r.get::<_, String>(5)?),
                ];
                if client.is_some() {
                    fields.push(client);
                }
                Ok((r.get(0)?, r.get(1)?, fields))
            })?
            .collect()
        })
        .expect("the audit table reads");
    let mut prev = vec![0u8; 32];
    for (seq, time, fields) in rows {
        let mut h = Sha256::new();
        h.update(&prev);
        h.update(time.to_be_bytes());
        for f in &fields {
            let f = f.as_deref().unwrap_or("");
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        let h = h.finalize().to_vec();
        db.execute("UPDATE audit SET hash = ?2 WHERE seq = ?1", params![seq, h])
            .expect("the audit table is writable");
        prev = h;
    }
}
