//! `struct uhid_event` records (linux/uhid.h) as plain byte layouts: a u32 type, then a
//! packed union. We write UHID_CREATE2, UHID_INPUT2 and UHID_DESTROY and read UHID_OUTPUT
//! (and skip the open/close/start/stop notices). No `unsafe` is needed.

use crate::REPORT_LEN;

/// linux/uhid.h event types.
pub(crate) const UHID_DESTROY: u32 = 1;
const UHID_OUTPUT: u32 = 6;
const UHID_CREATE2: u32 = 11;
const UHID_INPUT2: u32 = 12;
/// sizeof(struct uhid_event): 4 + the largest union member (uhid_create2_req, 4376).
pub(crate) const EVENT_SIZE: usize = 4380;
const BUS_USB: u16 = 0x03;

/// Our own VID/PID pair (not a registered USB vendor: the device is virtual).
pub const VENDOR_ID: u32 = 0x1209;
pub const PRODUCT_ID: u32 = 0x7a50;
pub const PRODUCT_NAME: &str = "tpm-passkey (TPM 2.0 FIDO2 authenticator)";

/// The HID report descriptor of a FIDO authenticator (CTAP 2.1 §11.2.8.1): usage page
/// 0xF1D0, usage 0x01, one 64-byte input and one 64-byte output report, no report IDs.
pub const REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xd0, 0xf1, // Usage Page (FIDO Alliance)
    0x09, 0x01, // Usage (CTAPHID)
    0xa1, 0x01, // Collection (Application)
    0x09, 0x20, //   Usage (Input Report Data)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xff, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8)
    0x95, 0x40, //   Report Count (64)
    0x81, 0x02, //   Input (Data, Var, Abs)
    0x09, 0x21, //   Usage (Output Report Data)
    0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x40, //   the same for the output report
    0x91, 0x02, //   Output (Data, Var, Abs)
    0xc0, // End Collection
];

/// The UHID_CREATE2 event for our device. `uniq` (at most 63 bytes) becomes the hidraw
/// device's HID_UNIQ, by which we find our /dev/hidrawN again.
pub fn create2_event(uniq: &str) -> Vec<u8> {
    let mut ev = vec![0u8; EVENT_SIZE];
    ev[0..4].copy_from_slice(&UHID_CREATE2.to_ne_bytes());
    let name = PRODUCT_NAME.as_bytes();
    ev[4..4 + name.len()].copy_from_slice(name); // name[128] at 4
    let phys = b"tpm-passkey/uhid";
    ev[132..132 + phys.len()].copy_from_slice(phys); // phys[64] at 132
    let uniq = &uniq.as_bytes()[..uniq.len().min(63)];
    ev[196..196 + uniq.len()].copy_from_slice(uniq); // uniq[64] at 196
    ev[260..262].copy_from_slice(&(REPORT_DESCRIPTOR.len() as u16).to_ne_bytes()); // rd_size
    ev[262..264].copy_from_slice(&BUS_USB.to_ne_bytes()); // bus
    ev[264..268].copy_from_slice(&VENDOR_ID.to_ne_bytes());
    ev[268..272].copy_from_slice(&PRODUCT_ID.to_ne_bytes());
    ev[272..276].copy_from_slice(&1u32.to_ne_bytes()); // version; country at 276 stays 0
    ev[280..280 + REPORT_DESCRIPTOR.len()].copy_from_slice(&REPORT_DESCRIPTOR);
    ev
}

/// A UHID_INPUT2 event carrying one report to the clients.
pub fn input2_event(report: &[u8; REPORT_LEN]) -> Vec<u8> {
    let mut ev = vec![0u8; 4 + 2 + REPORT_LEN];
    ev[0..4].copy_from_slice(&UHID_INPUT2.to_ne_bytes());
    ev[4..6].copy_from_slice(&(REPORT_LEN as u16).to_ne_bytes());
    ev[6..].copy_from_slice(report);
    ev
}

/// The 64-byte report inside a UHID_OUTPUT event, if `ev` is one. A leading report-ID byte
/// of 0 (65 bytes) is dropped: our descriptor has no report IDs.
pub fn output_report(ev: &[u8]) -> Option<[u8; REPORT_LEN]> {
    if ev.len() < 4103 || u32::from_ne_bytes([ev[0], ev[1], ev[2], ev[3]]) != UHID_OUTPUT {
        return None;
    }
    let size = usize::from(u16::from_ne_bytes([ev[4100], ev[4101]]));
    let data = &ev[4..4 + size.min(4096)];
    let data = match data.len() {
        n if n == REPORT_LEN + 1 && data[0] == 0 => &data[1..],
        _ => data,
    };
    data.try_into().ok()
}

/// UHID_DESTROY: the device goes away (closing /dev/uhid does the same).
pub fn destroy_event() -> Vec<u8> {
    UHID_DESTROY.to_ne_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_layouts_match_linux_uhid_h() {
        let c = create2_event("tpm-passkey-7");
        assert_eq!(c.len(), EVENT_SIZE);
        assert_eq!(u32::from_ne_bytes(c[0..4].try_into().unwrap()), 11);
        assert!(c[4..132].starts_with(b"tpm-passkey"));
        assert!(c[196..260].starts_with(b"tpm-passkey-7\0"));
        assert_eq!(u16::from_ne_bytes([c[260], c[261]]), 34);
        assert_eq!(u16::from_ne_bytes([c[262], c[263]]), BUS_USB);
        assert_eq!(&c[280..283], &[0x06, 0xd0, 0xf1], "FIDO usage page first");
        let i = input2_event(&[7; REPORT_LEN]);
        assert_eq!(i.len(), 70);
        assert_eq!(u16::from_ne_bytes([i[4], i[5]]), 64);
        let mut o = vec![0u8; EVENT_SIZE];
        o[0..4].copy_from_slice(&UHID_OUTPUT.to_ne_bytes());
        o[4] = 0; // report id
        o[5..69].copy_from_slice(&[9; 64]);
        o[4100..4102].copy_from_slice(&65u16.to_ne_bytes());
        assert_eq!(output_report(&o), Some([9; 64]));
        o[4100..4102].copy_from_slice(&64u16.to_ne_bytes());
        o[4..68].copy_from_slice(&[8; 64]);
        assert_eq!(output_report(&o), Some([8; 64]));
        o[0] = 4; // UHID_OPEN: not a report
        assert_eq!(output_report(&o), None);
    }
}
