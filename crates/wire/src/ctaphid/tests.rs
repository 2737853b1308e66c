use super::*;

fn reassemble(reports: &[[u8; REPORT_LEN]]) -> Result<(u32, u8, Vec<u8>), FrameError> {
    let Some(Packet::Init {
        cid,
        cmd,
        len,
        data,
    }) = Packet::parse(&reports[0])
    else {
        panic!("first report is not an init packet");
    };
    let mut r = Reassembly::start(cid, cmd, len, data)?;
    for rep in &reports[1..] {
        let Some(Packet::Cont { seq, data, .. }) = Packet::parse(rep) else {
            panic!("not a continuation");
        };
        r.push(seq, data)?;
    }
    assert!(r.is_complete());
    Ok((r.cid, r.cmd, r.into_payload()))
}

#[test]
fn split_then_reassemble_is_identity_at_every_boundary() {
    for len in [0, 1, 56, 57, 58, 115, 116, 117, 1000, MAX_MESSAGE] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let reports = fragment(0x01020304, cmd::CBOR, &payload);
        let expected_count = if len <= 57 {
            1
        } else {
            1 + (len - 57).div_ceil(59)
        };
        assert_eq!(reports.len(), expected_count, "len {len}");
        assert_eq!(
            reassemble(&reports).unwrap(),
            (0x01020304, cmd::CBOR, payload)
        );
    }
}

#[test]
fn out_of_order_and_extra_continuations_are_refused() {
    let payload = vec![0xaa; 200];
    let mut reports = fragment(7, cmd::MSG, &payload);
    reports.swap(1, 2);
    assert_eq!(reassemble(&reports), Err(FrameError::InvalidSeq));

    let Some(Packet::Init {
        cid,
        cmd,
        len,
        data,
    }) = Packet::parse(&reports[0])
    else {
        panic!()
    };
    let mut r = Reassembly::start(cid, cmd, len, data).unwrap();
    for seq in 0..3 {
        r.push(seq, &[0; 59]).unwrap();
    }
    assert!(r.is_complete());
    assert_eq!(r.push(3, &[0; 59]), Err(FrameError::InvalidSeq));
}

#[test]
fn oversized_length_and_short_reports_are_refused() {
    assert_eq!(
        Reassembly::start(1, cmd::CBOR, (MAX_MESSAGE + 1) as u16, &[]).err(),
        Some(FrameError::InvalidLen)
    );
    assert!(Packet::parse(&[0u8; 63]).is_none());
    assert!(Packet::parse(&[0u8; 65]).is_none());
}
