//! The key store's saved state, opaque to the engine, which keeps it in the credential
//! store.
//!
//! Version 3: `3 ‖ root seed (32) ‖ part(PIN index record) ‖ part(hmac-secret key) ‖
//! part(PIN-bound hmac-secret key) ‖ part(root Name) ‖ part(retired PIN index record)`, each part a big-endian u16 length
//! and its bytes (zero length for an absent part). The seed is the only secret: with this
//! TPM it re-creates the root, and so loads the blobs — what a stolen security key allows,
//! no more: PIN-bound keys still need the PIN at the TPM. The root's Name tells, at the
//! next start, whether this is still the TPM the keys were made on. The retired index is
//! one a reset replaced: it is undefined only after the state without it is saved.
//!
//! Version 4 adds `part(rollback counter record)`: handle (4) ‖ first-branch digest (32) ‖
//! Name (docs/DESIGN.md "Rollback seal").
//!
//! Version 5 adds `part(audit index record)`, the same shape (docs/DESIGN.md "Audit
//! checkpoints").
//!
//! Version 2 is version 3 without the root Name; version 1 (stores made before the
//! rebuild-proof PIN index) was `1 ‖ seed ‖ handle (4)` and is read as a legacy index.
//! Both are written back as version 3.

use crate::{AuditIndex, Error, PinIndex, PrfKey, Result, RollbackCounter, RootSeed};

const STATE_V1: u8 = 1;
const STATE_V2: u8 = 2;
const STATE_V3: u8 = 3;
const STATE_V4: u8 = 4;
const STATE_V5: u8 = 5;

/// The parts of a saved state.
#[derive(Default)]
pub(super) struct Saved {
    pub seed: Option<RootSeed>,
    pub pin: Option<PinIndex>,
    pub prf: Option<PrfKey>,
    pub prf_uv: Option<PrfKey>,
    pub root_name: Option<Vec<u8>>,
    pub retired: Option<PinIndex>,
    pub counter: Option<RollbackCounter>,
    pub audit: Option<AuditIndex>,
}

fn counter_record(c: &RollbackCounter) -> Vec<u8> {
    let (handle, first, name) = c.to_parts();
    [&handle.to_be_bytes()[..], &first, &name].concat()
}

fn counter_from(b: &[u8]) -> Result<RollbackCounter> {
    let (handle, first, name) = one_way_parts(b)?;
    Ok(RollbackCounter::from_parts(handle, first, name))
}

fn audit_record(a: &AuditIndex) -> Vec<u8> {
    let (handle, first, name) = a.to_parts();
    [&handle.to_be_bytes()[..], &first, &name].concat()
}

fn audit_from(b: &[u8]) -> Result<AuditIndex> {
    let (handle, first, name) = one_way_parts(b)?;
    Ok(AuditIndex::from_parts(handle, first, name))
}

/// handle (4) ‖ first-branch digest (32) ‖ Name: a counter's or an audit index's record.
fn one_way_parts(b: &[u8]) -> Result<(u32, [u8; 32], Vec<u8>)> {
    if b.len() < 4 + 32 + 2 {
        return Err(Error::BadBlob("saved NV index record is truncated"));
    }
    let handle = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let mut first = [0u8; 32];
    first.copy_from_slice(&b[4..36]);
    Ok((handle, first, b[36..].to_vec()))
}

fn take_part(b: &[u8]) -> Result<(&[u8], &[u8])> {
    if b.len() < 2 {
        return Err(Error::BadBlob("saved key-store state is truncated"));
    }
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let rest = &b[2..];
    if rest.len() < len {
        return Err(Error::BadBlob("saved key-store state is truncated"));
    }
    Ok(rest.split_at(len))
}

fn put_part(out: &mut Vec<u8>, part: &[u8]) {
    // Every part is far below 64 KiB (a record is < 200 bytes, a key blob < 400).
    let len = u16::try_from(part.len()).unwrap_or(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&part[..usize::from(len)]);
}

fn seed_of(b: &[u8]) -> RootSeed {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&b[..32]);
    RootSeed::from_bytes(seed)
}

fn opt(b: &[u8]) -> Option<&[u8]> {
    (!b.is_empty()).then_some(b)
}

pub(super) fn parse(b: &[u8]) -> Result<Saved> {
    match b.split_first() {
        Some((&STATE_V1, rest)) if rest.len() == 36 => {
            let handle = u32::from_be_bytes([rest[32], rest[33], rest[34], rest[35]]);
            Ok(Saved {
                seed: Some(seed_of(rest)),
                pin: (handle != 0).then(|| PinIndex::legacy_at(handle)),
                ..Saved::default()
            })
        }
        Some((&v @ (STATE_V2 | STATE_V3 | STATE_V4 | STATE_V5), rest)) if rest.len() >= 32 => {
            let seed = seed_of(rest);
            let (pin, rest) = take_part(&rest[32..])?;
            let (prf, rest) = take_part(rest)?;
            let (prf_uv, rest) = take_part(rest)?;
            let (root_name, rest) = if v >= STATE_V3 {
                take_part(rest)?
            } else {
                (&[][..], rest)
            };
            let (retired, rest) = if v >= STATE_V3 {
                take_part(rest)?
            } else {
                (&[][..], rest)
            };
            let (counter, rest) = if v >= STATE_V4 {
                take_part(rest)?
            } else {
                (&[][..], rest)
            };
            let (audit, rest) = if v >= STATE_V5 {
                take_part(rest)?
            } else {
                (&[][..], rest)
            };
            if !rest.is_empty() {
                return Err(Error::BadBlob("saved key-store state has trailing bytes"));
            }
            Ok(Saved {
                seed: Some(seed),
                pin: opt(pin).map(PinIndex::from_record).transpose()?,
                prf: opt(prf).map(PrfKey::from_bytes).transpose()?,
                prf_uv: opt(prf_uv).map(PrfKey::from_bytes).transpose()?,
                root_name: opt(root_name).map(<[u8]>::to_vec),
                retired: opt(retired).map(PinIndex::from_record).transpose()?,
                counter: opt(counter).map(counter_from).transpose()?,
                audit: opt(audit).map(audit_from).transpose()?,
            })
        }
        _ => Err(Error::BadBlob("saved key-store state has the wrong format")),
    }
}

pub(super) fn encode(
    seed: &RootSeed,
    pin: Option<&PinIndex>,
    prf: [Option<&PrfKey>; 2],
    root_name: Option<&[u8]>,
    retired: Option<&PinIndex>,
    counter: Option<&RollbackCounter>,
    audit: Option<&AuditIndex>,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(1024);
    b.push(STATE_V5);
    b.extend_from_slice(seed.expose_secret_bytes());
    put_part(&mut b, &pin.map(PinIndex::to_record).unwrap_or_default());
    for key in prf {
        let bytes = key.and_then(|k| k.to_bytes().ok()).unwrap_or_default();
        put_part(&mut b, &bytes);
    }
    put_part(&mut b, root_name.unwrap_or_default());
    put_part(
        &mut b,
        &retired.map(PinIndex::to_record).unwrap_or_default(),
    );
    put_part(&mut b, &counter.map(counter_record).unwrap_or_default());
    put_part(&mut b, &audit.map(audit_record).unwrap_or_default());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_5_round_trips_and_older_versions_read_without_what_they_lack() {
        let seed = RootSeed::from_bytes([7; 32]);
        let counter = RollbackCounter::from_parts(0x0138_0002, [5; 32], vec![0, 11, 9, 9]);
        let audit = AuditIndex::from_parts(0x0138_0003, [6; 32], vec![0, 11, 8, 8]);
        let v5 = encode(
            &seed,
            None,
            [None, None],
            Some(&[0, 11, 1, 2, 3]),
            None,
            Some(&counter),
            Some(&audit),
        );
        let back = parse(&v5).expect("parses");
        assert_eq!(back.counter, Some(counter.clone()));
        assert_eq!(back.audit, Some(audit));
        for cut in 1..v5.len() {
            assert!(parse(&v5[..cut]).is_err(), "cut at {cut}");
        }
        let mut v4 = v5[..v5.len() - (2 + 4 + 32 + 4)].to_vec();
        v4[0] = STATE_V4;
        let back = parse(&v4).expect("parses");
        assert_eq!(back.counter, Some(counter));
        assert_eq!(back.audit, None);
        let mut v3 = v4[..v4.len() - (2 + 4 + 32 + 4)].to_vec();
        v3[0] = STATE_V3;
        let back = parse(&v3).expect("parses");
        assert_eq!(back.counter, None);
        assert_eq!(back.root_name.as_deref(), Some(&[0, 11, 1, 2, 3][..]));
        assert_eq!(back.seed.expect("seed").expose_secret_bytes(), &[7; 32]);
        // The same bytes without the last two parts, as version 2.
        let mut v2 = v3[..v3.len() - 9].to_vec();
        v2[0] = STATE_V2;
        let back = parse(&v2).expect("parses");
        assert_eq!(back.root_name, None);
        for cut in 1..v3.len() {
            assert!(parse(&v3[..cut]).is_err(), "cut at {cut}");
        }
    }
}
