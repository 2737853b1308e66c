//! TPM identity and dictionary-attack state, read fresh from a real swtpm.
#![allow(clippy::unwrap_used)]
mod common;

use common::Fixture;
use tpm_passkey_tpm::TctiSource;

#[test]
fn swtpm_reports_itself_as_simulated_ibm() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    assert_eq!(tpm.tcti().source(), TctiSource::Simulator);
    let info = tpm.info().unwrap();
    assert!(info.simulated);
    assert_eq!(info.manufacturer, "IBM");
    assert!(info.firmware.split('.').count() == 4, "{}", info.firmware);
}

#[test]
fn da_state_shows_failures_counted_by_the_tpm() {
    use tss_esapi::{
        attributes::NvIndexAttributesBuilder,
        constants::NvIndexType,
        handles::NvIndexTpmHandle,
        interface_types::{
            algorithm::HashingAlgorithm,
            resource_handles::{NvAuth, Provision},
        },
        structures::{Auth, NvPublicBuilder},
        Context,
    };
    let f = Fixture::new();
    let before = f.tpm().da_state().unwrap();
    assert_eq!(
        (before.counter, before.max_tries, before.in_lockout),
        (0, 3, false),
        "{before:?}"
    );

    // One DA-counted failure made by another client: a wrong password on an ordinary
    // (DA-protected) NV index.
    {
        let mut ctx = Context::new(f.swtpm.tcti().as_str().parse().unwrap()).unwrap();
        let attrs = NvIndexAttributesBuilder::new()
            .with_nv_index_type(NvIndexType::Ordinary)
            .with_auth_read(true)
            .with_auth_write(true)
            .build()
            .unwrap();
        let public = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(0x0150_0001).unwrap())
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attrs)
            .with_data_area_size(4)
            .build()
            .unwrap();
        let nv = ctx
            .execute_with_nullauth_session(|c| {
                c.nv_define_space(
                    Provision::Owner,
                    Some(Auth::try_from(b"right".to_vec())?),
                    public,
                )
            })
            .unwrap();
        ctx.tr_set_auth(nv.into(), Auth::try_from(b"wrong".to_vec()).unwrap())
            .unwrap();
        let r = ctx.execute_with_nullauth_session(|c| c.nv_read(NvAuth::NvIndex(nv), nv, 4, 0));
        assert!(r.is_err(), "a wrong password must fail");
    }
    let after = f.tpm().da_state().unwrap();
    assert_eq!(after.counter, before.counter + 1, "{after:?}");
}
