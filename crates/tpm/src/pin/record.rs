//! How a caller saves a [`PinIndex`]: public data only (handle, Name, and for a sealed
//! index its write-branch digest, the approver's public key and the approval).
//!
//! Layout: kind (1: legacy, 2: sealed) ‖ handle (u32 BE) ‖ name length (u8) ‖ name
//! [‖ write branch (32) ‖ approver x (32) ‖ approver y (32) ‖ approval r ‖ s (64)].
//! Parsing is strict: a wrong kind, length or trailing byte is an error, never a guess.

use super::{PinIndex, PinKind, SealedPolicy};
use crate::{one_time_key::ExternalKey, Error, Result};

const LEGACY: u8 = 1;
const SEALED: u8 = 2;
/// Sealed and anchored (issue 21): the anchors follow the sealed fields.
const ANCHORED: u8 = 3;

fn bad(why: &'static str) -> Error {
    Error::BadBlob(why)
}

impl PinIndex {
    /// The bytes to save (see the module documentation).
    pub fn to_record(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        out.push(match &self.kind {
            PinKind::Legacy => LEGACY,
            PinKind::Sealed(p) if p.anchored => ANCHORED,
            PinKind::Sealed(_) => SEALED,
        });
        out.extend_from_slice(&self.handle.to_be_bytes());
        // A Name is nameAlg (2) ‖ digest: 34 bytes for SHA-256, well under 255.
        out.push(self.name.len().min(255) as u8);
        out.extend_from_slice(&self.name[..self.name.len().min(255)]);
        if let PinKind::Sealed(p) = &self.kind {
            out.extend_from_slice(&p.write_branch);
            out.extend_from_slice(&p.approver.x);
            out.extend_from_slice(&p.approver.y);
            out.extend_from_slice(&p.approval);
            if let Some(a) = &p.anchors {
                a.to_record(&mut out);
            }
        }
        out
    }

    /// Parses [`Self::to_record`]'s bytes. The TPM's index is checked against the result
    /// when it is opened.
    pub fn from_record(b: &[u8]) -> Result<Self> {
        let (&kind, rest) = b.split_first().ok_or(bad("empty PIN index record"))?;
        if rest.len() < 5 {
            return Err(bad("truncated PIN index record"));
        }
        let handle = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let name_len = usize::from(rest[4]);
        let rest = &rest[5..];
        if rest.len() < name_len {
            return Err(bad("truncated PIN index record"));
        }
        let (name, rest) = rest.split_at(name_len);
        let kind = match (kind, rest.len()) {
            (LEGACY, 0) => PinKind::Legacy,
            (SEALED, 160) | (ANCHORED, 161..) => {
                let take = |i: usize| -> [u8; 32] {
                    let mut a = [0u8; 32];
                    a.copy_from_slice(&rest[i..i + 32]);
                    a
                };
                let mut approval = [0u8; 64];
                approval.copy_from_slice(&rest[96..160]);
                let anchors = match kind {
                    ANCHORED => Some(super::Anchors::from_record(&rest[160..])?),
                    _ => None,
                };
                PinKind::Sealed(Box::new(SealedPolicy {
                    write_branch: take(0),
                    approver: ExternalKey {
                        x: take(32),
                        y: take(64),
                    },
                    approval,
                    anchored: anchors.is_some(),
                    anchors,
                }))
            }
            _ => return Err(bad("PIN index record has the wrong kind or length")),
        };
        Ok(PinIndex {
            handle,
            name: name.to_vec(),
            kind,
        })
    }

    /// A legacy index known only by its handle (key-store state version 1): its Name is
    /// read from the TPM when it is opened.
    pub fn legacy_at(handle: u32) -> Self {
        PinIndex {
            handle,
            name: Vec::new(),
            kind: PinKind::Legacy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_malformed_ones_are_refused() {
        let sealed = PinIndex {
            handle: 0x0100_1234,
            name: vec![0, 0x0b, 9, 9, 9],
            kind: PinKind::Sealed(Box::new(SealedPolicy {
                write_branch: [1; 32],
                approver: ExternalKey {
                    x: [2; 32],
                    y: [3; 32],
                },
                approval: [4; 64],
                anchored: false,
                anchors: None,
            })),
        };
        let mut anchored_policy = match &sealed.kind {
            PinKind::Sealed(p) => (**p).clone(),
            PinKind::Legacy => unreachable!(),
        };
        anchored_policy.anchored = true;
        anchored_policy.anchors = Some(super::super::Anchors {
            audit_name: vec![0, 0x0b, 5],
            counter_name: vec![0, 0x0b, 6],
            epoch: crate::EpochCounter::from_parts(0x0100_4321, [7; 32], vec![0, 0x0b, 8]),
            epoch_start: 99,
            key: vec![1, 2, 3],
            signature: [9; 64],
        });
        let anchored = PinIndex {
            handle: 0x0100_1234,
            name: vec![0, 0x0b, 9, 9, 9],
            kind: PinKind::Sealed(Box::new(anchored_policy)),
        };
        let legacy = PinIndex {
            handle: 0x0100_0001,
            name: vec![0, 0x0b, 1],
            kind: PinKind::Legacy,
        };
        for i in [&sealed, &anchored, &legacy] {
            let r = i.to_record();
            assert_eq!(&PinIndex::from_record(&r).expect("parses"), i);
            for cut in 0..r.len() {
                assert!(
                    PinIndex::from_record(&r[..cut]).is_err(),
                    "truncated at {cut}"
                );
            }
            let mut long = r.clone();
            long.push(0);
            assert!(PinIndex::from_record(&long).is_err(), "trailing byte");
        }
        let mut wrong_kind = sealed.to_record();
        wrong_kind[0] = 7;
        assert!(PinIndex::from_record(&wrong_kind).is_err());
    }
}
