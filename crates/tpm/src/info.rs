//! What the status screen shows about the TPM: who made it, which firmware, and the
//! TPM-wide dictionary-attack state. Read with TPM2_GetCapability every time, never from
//! tss-esapi's cached properties, so a lockout that began a second ago is seen.

use tss_esapi::{
    constants::{CapabilityType, PropertyTag},
    structures::CapabilityData,
};

use crate::{Error, Result, Tpm};

/// TPM identity, for the status screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmInfo {
    /// TPM_PT_MANUFACTURER as a number (the TCG vendor ID, e.g. 0x49424D00 for IBM).
    pub manufacturer_id: u32,
    /// TPM_PT_FIRMWARE_VERSION_1.
    pub firmware_id: u32,
    /// TPM_PT_MANUFACTURER as its four ASCII letters (e.g. "IBM", "INTC", "STM").
    pub manufacturer: String,
    /// TPM_PT_VENDOR_STRING_1..4 joined.
    pub vendor: String,
    /// TPM_PT_FIRMWARE_VERSION_1/2 as four 16-bit parts.
    pub firmware: String,
    /// The embedded simulator, not a hardware TPM.
    pub simulated: bool,
}

/// The TPM-wide dictionary-attack protection (Part 1 §19.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaState {
    /// Failures counted so far (TPM_PT_LOCKOUT_COUNTER).
    pub counter: u32,
    /// Failures allowed before lockout (TPM_PT_MAX_AUTH_FAIL).
    pub max_tries: u32,
    /// Seconds after which one failure is forgotten (TPM_PT_LOCKOUT_INTERVAL).
    pub recovery_secs: u32,
    /// Seconds before the lockout authorization may be tried again (TPM_PT_LOCKOUT_RECOVERY).
    pub lockout_recovery_secs: u32,
    /// TPMA_PERMANENT.inLockout.
    pub in_lockout: bool,
}

fn ascii(v: u32) -> String {
    v.to_be_bytes()
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|b| char::from(*b))
        .collect::<String>()
}

impl Tpm {
    fn properties(&mut self, first: PropertyTag, count: u32) -> Result<Vec<(PropertyTag, u32)>> {
        let (data, _) = self
            .ctx
            .get_capability(CapabilityType::TpmProperties, u32::from(first), count)
            .map_err(|e| Error::tss("get capability", e))?;
        let CapabilityData::TpmProperties(list) = data else {
            return Err(Error::Tpm {
                op: "get capability",
                code: "unexpected capability data".into(),
            });
        };
        Ok(list
            .into_iter()
            .map(|p| (p.property(), p.value()))
            .collect())
    }

    fn property(props: &[(PropertyTag, u32)], tag: PropertyTag) -> u32 {
        props.iter().find(|(t, _)| *t == tag).map_or(0, |(_, v)| *v)
    }

    /// Manufacturer, vendor and firmware, from the fixed properties.
    pub fn info(&mut self) -> Result<TpmInfo> {
        let p = self.properties(PropertyTag::Manufacturer, 8)?;
        let vendor = [
            PropertyTag::VendorString1,
            PropertyTag::VendorString2,
            PropertyTag::VendorString3,
            PropertyTag::VendorString4,
        ]
        .into_iter()
        .map(|t| ascii(Self::property(&p, t)))
        .collect::<String>();
        let f1 = Self::property(&p, PropertyTag::FirmwareVersion1);
        let f2 = Self::property(&p, PropertyTag::FirmwareVersion2);
        Ok(TpmInfo {
            manufacturer: ascii(Self::property(&p, PropertyTag::Manufacturer)),
            manufacturer_id: Self::property(&p, PropertyTag::Manufacturer),
            firmware_id: f1,
            vendor: vendor.split_whitespace().collect::<Vec<_>>().join(" "),
            firmware: format!("{}.{}.{}.{}", f1 >> 16, f1 & 0xffff, f2 >> 16, f2 & 0xffff),
            simulated: self.is_simulated(),
        })
    }

    /// The dictionary-attack counters, read fresh from the TPM.
    pub fn da_state(&mut self) -> Result<DaState> {
        let perm = self.properties(PropertyTag::Permanent, 1)?;
        let da = self.properties(PropertyTag::LockoutCounter, 4)?;
        Ok(DaState {
            counter: Self::property(&da, PropertyTag::LockoutCounter),
            max_tries: Self::property(&da, PropertyTag::MaxAuthFail),
            recovery_secs: Self::property(&da, PropertyTag::LockoutInterval),
            lockout_recovery_secs: Self::property(&da, PropertyTag::LockoutRecovery),
            // TPMA_PERMANENT bit 9: inLockout (Part 2 §8.6).
            in_lockout: Self::property(&perm, PropertyTag::Permanent) & (1 << 9) != 0,
        })
    }
}
