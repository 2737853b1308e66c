//! The audit log's TPM-certified checkpoints, engine side (docs/DESIGN.md "Audit
//! checkpoints").
//!
//! Every [`CHECKPOINT_EVERY`] entries (checked after each request is answered) and at
//! shutdown, the engine extends the key store's audit index with [`checkpoint_message`]
//! (entry number, chain head, rollback counter) and keeps the TPM's signed statement of the
//! index's new value. The index can only move
//! forward, so a log rewritten with every hash recomputed no longer replays to it, and
//! checkpoints removed with the entries they covered leave the index ahead of the log.
//!
//! Commit order: the checkpoint row is written first without a statement, then the index
//! is extended and certified, then the statement is stored. A crash in between leaves a
//! row without a statement, resolved at the next start against the index itself
//! ([`Engine::resolve_pending_checkpoint`]): extended → certified now; not extended → the
//! row is dropped.

use crate::hex;
use tpm_passkey_ipc::{
    AuditExport, AuditVerdict, ExportedCheckpoint, ExportedEntry, ExportedStatement,
};

use crate::audit_proof::{
    checkpoint_message, extend, replay, verify_statement, Attested, ST_ATTEST_NV,
};
use crate::store::Checkpoint;
use crate::{Approver, AuditAnchor, AuditStatement, Clock, Engine, KeyStore, ManageError};

/// A checkpoint after this many audit entries (and one at shutdown).
pub const CHECKPOINT_EVERY: u32 = 16;

fn manage_err(e: impl Into<tpm_passkey_wire::Status>) -> ManageError {
    ManageError::from_status(e.into())
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Whether TPM work that no answer needs is waiting: a sealed change's counter step, or
    /// a checkpoint due. The daemon does it once the engine has been idle a moment
    /// ([`Engine::do_idle_work`]), so that neither lands inside the answer time of a request
    /// that follows at once (a sign-in's assertion right after its token).
    pub fn idle_work_due(&self) -> bool {
        self.counter_step_owed() || self.audit_pending.get() >= CHECKPOINT_EVERY
    }

    /// Whether a checkpoint has waited for an idle moment so long (twice the batch) that it
    /// should be made now, after this answer: requests that never pause (a script, a flood)
    /// must not leave the log unvouched for.
    pub fn idle_work_overdue(&self) -> bool {
        self.audit_pending.get() >= 2 * CHECKPOINT_EVERY
    }

    /// The counter step, then the checkpoint, if owed. True when nothing is left owed; a TPM
    /// that cannot do it now is logged, and the work waits for the next chance (the next
    /// change takes the step first; the next idle moment tries again).
    pub fn do_idle_work(&mut self) -> bool {
        let _ = self.finish_counter_step();
        self.checkpoint_if_due();
        !self.idle_work_due()
    }

    /// Makes a checkpoint when enough entries came since the last one. A TPM that cannot
    /// do it now is logged, and the next call tries again.
    pub fn checkpoint_if_due(&mut self) {
        if self.audit_pending.get() >= CHECKPOINT_EVERY {
            self.checkpoint_audit();
        }
    }

    /// Makes a checkpoint of the log as it is now, unless the last entry has one (what the
    /// daemon does at shutdown). True when one was made.
    pub fn checkpoint_audit(&mut self) -> bool {
        match self.try_checkpoint() {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(error = %e, "no audit checkpoint now; tried again later");
                false
            }
        }
    }

    fn try_checkpoint(&mut self) -> Result<bool, String> {
        if self
            .keys
            .audit_anchor()
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(false);
        }
        if self.resolve_pending_checkpoint() {
            // Still unfinished (the TPM away): a second row would leave the first behind.
            return Err("an earlier checkpoint is not finished yet".into());
        }
        let Some((seq, head)) = self.store.audit_head().map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        let last = self.store.last_checkpoint().map_err(|e| e.to_string())?;
        if last.map(|c| c.seq) >= Some(seq) {
            self.audit_pending.set(0);
            return Ok(false);
        }
        let counter = self.seal.map_or(0, |s| s.value);
        let message = checkpoint_message(seq, &head, counter);
        self.store
            .put_checkpoint(&Checkpoint {
                seq,
                head,
                counter,
                attest: Vec::new(),
                signature: Vec::new(),
            })
            .map_err(|e| e.to_string())?;
        let statement = self
            .keys
            .audit_checkpoint(&message)
            .map_err(|e| e.to_string())?;
        self.store
            .set_checkpoint_statement(seq, &statement.attest, &statement.signature)
            .map_err(|e| e.to_string())?;
        self.audit_pending.set(0);
        Ok(true)
    }

    /// A checkpoint row left without its statement by a crash (see the module
    /// documentation): certified now if the index has its message, dropped if the index
    /// never got it; if the index holds neither (someone else extended it), the TPM's
    /// statement is kept all the same, for `audit verify` to report. True when one is still
    /// unfinished (the TPM cannot answer now). Only the store is read unless a row is
    /// unfinished: this runs at every start.
    pub(crate) fn resolve_pending_checkpoint(&mut self) -> bool {
        match self.store.last_checkpoint() {
            Ok(Some(c)) if c.attest.is_empty() => {}
            _ => return false,
        }
        let Ok(Some(anchor)) = self.keys.audit_anchor() else {
            return true;
        };
        let Ok(all) = self.store.checkpoints() else {
            return true;
        };
        let Some(last) = all.last() else {
            return false;
        };
        let before = epoch_messages(&all[..all.len() - 1], &anchor.key, &anchor.index_name);
        let message = message_of(last);
        let outcome = self.keys.audit_statement(&message).map(|st| {
            let value = index_value(&anchor, &st);
            (st, value)
        });
        match outcome {
            Ok((st, Some(v))) if v == replay(before.iter().chain([&message])) => {
                let _ = self
                    .store
                    .set_checkpoint_statement(last.seq, &st.attest, &st.signature);
                tracing::info!(seq = last.seq, "audit checkpoint finished after a crash");
            }
            Ok((_, Some(v))) if v == replay(before.iter()) => {
                let _ = self.store.delete_checkpoint(last.seq);
                tracing::info!(seq = last.seq, "unfinished audit checkpoint dropped");
            }
            Ok((st, _)) => {
                // The index moved without us (another program extended it): keep what the
                // TPM says now, so that `audit verify` shows it, and go on checkpointing.
                let _ = self
                    .store
                    .set_checkpoint_statement(last.seq, &st.attest, &st.signature);
                tracing::warn!(
                    seq = last.seq,
                    "the audit index moved without tpm-passkey: another program extended it"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot finish an audit checkpoint now");
                return true;
            }
        }
        false
    }

    /// Checks the whole log: the hash chain, every checkpoint's signature, message and
    /// replay, the counter's order, and a fresh statement of the TPM's audit index.
    pub fn audit_verify(&mut self) -> Result<AuditVerdict, ManageError> {
        let (hashes, chain_break) = self.store.audit_chain().map_err(manage_err)?;
        let checkpoints = self.store.checkpoints().map_err(manage_err)?;
        let anchor = self.keys.audit_anchor().map_err(manage_err)?;
        let fresh = match &anchor {
            Some(_) => {
                let mut nonce = [0u8; 32];
                crate::secret::random(&mut nonce).map_err(manage_err)?;
                // A TPM that cannot vouch now (unreachable, or its index gone) is part of
                // the verdict, not a failure to give one.
                Some(
                    self.keys
                        .audit_statement(&nonce)
                        .map(|st| (nonce, st))
                        .map_err(|e| e.to_string()),
                )
            }
            None => None,
        };
        let counter_now = self.seal.map(|s| s.value);
        let mut verdict = judge(
            &hashes,
            chain_break,
            &checkpoints,
            anchor.as_ref(),
            fresh.as_ref().map(|f| f.as_ref()),
            counter_now,
        );
        // Issue 21 (G2): statements about a look-alike index prove nothing, however well
        // they verify. The PIN enrolment names the index; the TPM alone tells them apart.
        match anchor.map(|a| a.binding) {
            Some(crate::IndexBinding::Substituted) => {
                verdict.problem = Some(
                    "the audit index is not the one the PIN enrolment vouches for: someone with the TPM replaced it, so its checkpoints prove nothing about this log".into(),
                );
                verdict.first_bad_seq = hashes.first().map(|l| l.0).or(Some(1));
                verdict.checkpoints_verified = 0;
                verdict.vouched_through = None;
                verdict.tpm_checked = false;
            }
            Some(crate::IndexBinding::Unanchored) if self.keys.pin_is_set() => {
                let unanchored = "the audit index is not vouched for by the PIN enrolment (a PIN set before that existed): a look-alike index made by someone with the TPM would not be noticed here; a reset and a new PIN anchor it";
                verdict.notice = Some(match verdict.notice.take() {
                    Some(n) => format!("{n}; {unanchored}"),
                    None => unanchored.to_owned(),
                });
            }
            _ => {}
        }
        Ok(verdict)
    }

    /// The log as evidence for a verifier elsewhere (`audit export --json`). `reader` is
    /// recorded, as for any read of the log.
    pub fn audit_export(
        &mut self,
        nonce: Option<&str>,
        reader: Option<String>,
    ) -> Result<AuditExport, ManageError> {
        let nonce: [u8; 32] = match nonce {
            Some(n) => hex::decode(n)
                .and_then(|b| b.try_into().ok())
                .ok_or(ManageError::BadNonce)?,
            None => {
                let mut b = [0u8; 32];
                crate::secret::random(&mut b).map_err(manage_err)?;
                b
            }
        };
        let entries = self
            .store
            .audit_with_hashes()
            .map_err(manage_err)?
            .into_iter()
            .map(|(record, hash)| ExportedEntry {
                record,
                hash: hex::encode(&hash),
            })
            .collect();
        let checkpoints = self
            .store
            .checkpoints()
            .map_err(manage_err)?
            .iter()
            .map(|c| ExportedCheckpoint {
                seq: c.seq,
                head: hex::encode(&c.head),
                counter: c.counter,
                attest: hex::encode(&c.attest),
                signature: hex::encode(&c.signature),
            })
            .collect();
        let anchor = self.keys.audit_anchor().map_err(manage_err)?;
        let statement = match anchor {
            Some(_) => {
                let st = self.keys.audit_statement(&nonce).map_err(manage_err)?;
                Some(ExportedStatement {
                    nonce: hex::encode(&nonce),
                    attest: hex::encode(&st.attest),
                    signature: hex::encode(&st.signature),
                })
            }
            None => None,
        };
        self.audit_read(crate::AuditKind::ReadAudit, reader);
        Ok(AuditExport {
            format: "tpm-passkey-audit-1".into(),
            attestation_key: anchor.as_ref().map(|a| hex::encode(&a.key)),
            audit_index_name: anchor.as_ref().map(|a| hex::encode(&a.index_name)),
            entries,
            checkpoints,
            statement,
        })
    }
}

fn message_of(c: &Checkpoint) -> [u8; 32] {
    checkpoint_message(c.seq, &c.head, c.counter)
}

/// What a good statement (signed by the attestation key) says: the index it is about, the
/// value it certifies, and the extraData it was made with.
struct Stated {
    index_name: Vec<u8>,
    value: [u8; 32],
    extra_data: Vec<u8>,
}

/// The statement checked with `key` and read, once.
fn stated(key: &[u8], attest: &[u8], signature: &[u8]) -> Option<Stated> {
    let attest = verify_statement(key, attest, signature, ST_ATTEST_NV).ok()?;
    match attest.attested {
        Attested::Nv {
            index_name,
            offset: 0,
            contents,
        } => Some(Stated {
            index_name,
            value: contents.try_into().ok()?,
            extra_data: attest.extra_data,
        }),
        _ => None,
    }
}

/// The index value a statement certifies, if it is a good statement about our index.
fn index_value(anchor: &AuditAnchor, st: &AuditStatement) -> Option<[u8; 32]> {
    stated(&anchor.key, &st.attest, &st.signature)
        .filter(|s| s.index_name == anchor.index_name)
        .map(|s| s.value)
}

/// The messages of the checkpoints at the end of `all` made under the index `name` (the
/// current index's epoch: an index made anew starts its replay from genesis).
fn epoch_messages(all: &[Checkpoint], key: &[u8], name: &[u8]) -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = all
        .iter()
        .rev()
        .take_while(|c| stated(key, &c.attest, &c.signature).is_some_and(|s| s.index_name == name))
        .map(message_of)
        .collect();
    out.reverse();
    out
}

/// The verdict on a log (pure: what `audit verify` decides from what it read).
pub(crate) fn judge(
    hashes: &[(i64, Vec<u8>)],
    chain_break: Option<i64>,
    checkpoints: &[Checkpoint],
    anchor: Option<&AuditAnchor>,
    fresh: Option<Result<&([u8; 32], AuditStatement), &String>>,
    counter_now: Option<u64>,
) -> AuditVerdict {
    let mut v = AuditVerdict {
        entries: hashes.len() as u64,
        first_bad_seq: chain_break,
        problem: chain_break.map(|s| {
            format!("entry {s} does not follow from the entries before it: it was edited, or one before it was removed")
        }),
        checkpoints: checkpoints.len() as u64,
        ..AuditVerdict::default()
    };
    let Some(anchor) = anchor else {
        return v;
    };
    // The first entry after the last checkpoint that checked: where trust ends.
    let after = |seq: Option<i64>| -> i64 {
        let from = seq.unwrap_or(0);
        hashes
            .iter()
            .map(|(s, _)| *s)
            .find(|s| *s > from)
            .unwrap_or(from + 1)
    };
    let fail = |v: &mut AuditVerdict, why: String| {
        let at = after(v.vouched_through);
        if v.first_bad_seq.is_none_or(|b| at < b) {
            v.first_bad_seq = Some(at);
            v.problem = Some(why);
        }
    };
    // The checkpoints' replay starts again from genesis where the index changes (one made
    // anew after the person accepted a store whose index was gone: an epoch).
    //
    // A leading run of well-formed statements that this TPM's attestation key did not sign
    // was made by an earlier TPM (replaced, and the person accepted this one): nothing
    // vouches for them now, and they are skipped with a notice. That trusts nothing new:
    // the first checkpoint of this TPM covers every entry before it through its chain head,
    // and this TPM's index, checked fresh below, holds every checkpoint it made.
    let earlier = checkpoints
        .iter()
        .take_while(|c| {
            !c.attest.is_empty()
                && crate::audit_proof::parse_attest(&c.attest).is_ok()
                && stated(&anchor.key, &c.attest, &c.signature).is_none()
        })
        .count();
    if let Some(last) = checkpoints[..earlier].last() {
        v.notice = Some(format!("{earlier} checkpoints up to entry {} were made by an earlier TPM (it was replaced): this TPM cannot vouch for them", last.seq));
    }
    // The index's value as the checkpoints replay it (from genesis at each epoch).
    let mut expected = replay([]);
    let mut epoch: Option<Vec<u8>> = None;
    let mut last_counter = 0u64;
    for (n, c) in checkpoints.iter().enumerate().skip(earlier) {
        if c.attest.is_empty() && n + 1 == checkpoints.len() {
            // Unfinished (the TPM was away): finished or dropped when the TPM is back.
            break;
        }
        let message = message_of(c);
        let stated = stated(&anchor.key, &c.attest, &c.signature);
        if let Some(st) = &stated {
            if epoch.as_ref() != Some(&st.index_name) {
                if epoch.is_some() {
                    v.notice = Some(format!("the TPM's audit index was made anew at entry {} (a store accepted with --accept-restored-store, or the index deleted by the TPM's owner): entries before it were vouched for by the earlier index", c.seq));
                }
                epoch = Some(st.index_name.clone());
                expected = replay([]);
            }
        }
        expected = extend(&expected, &message);
        let stored_head = hashes
            .binary_search_by_key(&c.seq, |(s, _)| *s)
            .ok()
            .map(|i| &hashes[i].1);
        let why = match &stated {
            None => Some(format!(
                "the checkpoint at entry {} is not a valid TPM statement about an audit index",
                c.seq
            )),
            Some(st) if st.extra_data != message || st.value != expected => Some(format!("the checkpoint at entry {} does not match the TPM's audit index: checkpoints were changed or removed", c.seq)),
            Some(_) if stored_head != Some(&c.head) => Some(format!("the log up to entry {} is not the one the TPM vouched for: entries were rewritten or removed", c.seq)),
            Some(_) if c.counter < last_counter => Some(format!(
                "the checkpoint at entry {} has a rollback counter lower than the one before it",
                c.seq
            )),
            Some(_) if counter_now.is_some_and(|now| c.counter > now) => Some(format!(
                "the checkpoint at entry {} has a rollback counter ahead of the store's seal",
                c.seq
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            fail(&mut v, why);
            return v;
        }
        last_counter = c.counter;
        v.checkpoints_verified += 1;
        v.vouched_through = Some(c.seq);
    }
    if epoch
        .as_ref()
        .is_some_and(|name| *name != anchor.index_name)
    {
        // The current index has no checkpoint yet: it holds its genesis alone.
        expected = replay([]);
        v.notice = Some(format!("the TPM's audit index was made anew after entry {} (a store accepted with --accept-restored-store, or the index deleted by the TPM's owner): entries up to there were vouched for by the earlier index", v.vouched_through.unwrap_or(0)));
    }
    if let Some(Err(why)) = fresh {
        if v.problem.is_none() {
            let upto = v
                .vouched_through
                .map_or(String::new(), |s| format!(" (it vouched up to entry {s})"));
            v.problem = Some(format!(
                "the TPM cannot vouch for the log now: {why}. The checkpoints were checked against each other only{upto}"
            ));
        }
    }
    if let Some(Ok((nonce, st))) = fresh {
        match stated(&anchor.key, &st.attest, &st.signature)
            .filter(|s| s.index_name == anchor.index_name && s.extra_data == nonce)
        {
            Some(now) if now.value == expected => v.tpm_checked = true,
            Some(_) => fail(
                &mut v,
                "the TPM's audit index is ahead of the log's checkpoints: checkpoints and the entries they covered were removed, or another program extended the index".into(),
            ),
            _ => fail(&mut v, "the TPM's statement about its audit index does not verify".into()),
        }
    }
    v
}
