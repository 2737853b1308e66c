//! The public areas this crate asks the TPM to create, in one place, so that the code
//! that checks a loaded blob and the code that creates keys cannot drift apart.

use tss_esapi::{
    attributes::ObjectAttributesBuilder,
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
    },
    structures::{
        Digest, EccParameter, EccPoint, EccScheme, HashScheme, KeyedHashScheme, Public,
        PublicBuilder, PublicEccParametersBuilder, PublicKeyedHashParameters,
        SymmetricDefinitionObject,
    },
};

use crate::{Error, Result};

fn build_err(e: tss_esapi::Error) -> Error {
    Error::tss("build template", e)
}

/// The root: an ECC P-256 restricted decryption (storage) primary whose `unique.x` is the
/// caller's seed. The TPM derives primaries from the hierarchy seed and the whole template,
/// so another seed gives another root and blobs made under one cannot load under the other.
/// noDA: the root has an empty authValue, and a failed attempt at it must not feed the
/// TPM-wide lockout that other programs share.
pub(crate) fn root(seed: &[u8; 32]) -> Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_decrypt(true)
        .with_no_da(true)
        .build()
        .map_err(build_err)?;
    let params = PublicEccParametersBuilder::new_restricted_decryption_key(
        SymmetricDefinitionObject::AES_128_CFB,
        EccCurve::NistP256,
    )
    .build()
    .map_err(build_err)?;
    ecc_primary(attrs, params, seed)
}

/// An ECC primary's public area whose `unique.x` is `x`: the TPM derives a primary from the
/// hierarchy's seed and the whole template, so `x` picks which key it is.
fn ecc_primary(
    attrs: tss_esapi::attributes::ObjectAttributes,
    params: tss_esapi::structures::PublicEccParameters,
    x: &[u8],
) -> Result<Public> {
    let x = EccParameter::try_from(x.to_vec()).map_err(build_err)?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(params)
        .with_ecc_unique_identifier(EccPoint::new(x, EccParameter::default()))
        .build()
        .map_err(build_err)
}

/// A credential key: P-256, signing only (ECDSA-SHA256, named by each TPM2_Sign), made and kept inside the TPM
/// (fixedTPM, fixedParent, sensitiveDataOrigin), never usable for decryption.
/// `policy` = None: user-presence only (empty authValue, userWithAuth).
/// `policy` = Some(d): userWithAuth cleared, so the only way to use it is a policy session
/// that reaches `d`, i.e. PolicySecret with the PIN.
/// noDA, as for the root: a wrong authValue on a credential key must not lock the TPM.
pub(crate) fn credential_key(policy: Option<[u8; 32]>) -> Result<Public> {
    credential_key_with(policy, EccScheme::Null)
}

/// The credential key as made before `tpm` attestation (scheme ECDSA-SHA256 in the key
/// itself): still accepted and used, never made again. New keys carry the NULL scheme,
/// the one relying-party libraries parse in a `tpm` statement's pubArea (py_webauthn reads
/// TPMS_ECC_PARMS at fixed offsets), and every signature names ECDSA-SHA256 itself.
pub(crate) fn credential_key_v1(policy: Option<[u8; 32]>) -> Result<Public> {
    credential_key_with(
        policy,
        EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
    )
}

fn credential_key_with(policy: Option<[u8; 32]>, scheme: EccScheme) -> Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(policy.is_none())
        .with_sign_encrypt(true)
        .with_no_da(true)
        .build()
        .map_err(build_err)?;
    // Not `new_unrestricted_signing_key`: tss-esapi's builder refuses the NULL scheme for a
    // signing key, which TPM 2.0 allows (Part 2 §12.2.3.6: the scheme is then chosen at
    // TPM2_Sign). The sign attribute is in `attrs`; the builder's flag only drives its checks.
    let params = PublicEccParametersBuilder::new()
        .with_ecc_scheme(scheme)
        .with_curve(EccCurve::NistP256)
        .with_key_derivation_function_scheme(
            tss_esapi::structures::KeyDerivationFunctionScheme::Null,
        )
        .with_is_signing_key(scheme != EccScheme::Null)
        .build()
        .map_err(build_err)?;
    let mut b = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(params)
        .with_ecc_unique_identifier(EccPoint::default());
    if let Some(d) = policy {
        b = b.with_auth_policy(Digest::try_from(d.to_vec()).map_err(build_err)?);
    }
    b.build().map_err(build_err)
}

/// The hmac-secret key (CTAP 2.1 §12.5): a keyed-hash HMAC-SHA-256 object made inside the
/// TPM under the root. CredRandom = HMAC(this key, label ‖ credential material), computed by
/// TPM2_HMAC, so nothing in the store yields it without the TPM. `policy` = None: the
/// without-UV key (empty authValue, userWithAuth); Some(d): the with-UV key, usable only
/// through PolicySecret with the PIN, like a PIN-bound credential key. noDA as the others.
pub(crate) fn prf_key(policy: Option<[u8; 32]>) -> Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(policy.is_none())
        .with_sign_encrypt(true)
        .with_no_da(true)
        .build()
        .map_err(build_err)?;
    let mut b = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(
            KeyedHashScheme::HMAC_SHA_256,
        ))
        .with_keyed_hash_unique_identifier(Digest::default());
    if let Some(d) = policy {
        b = b.with_auth_policy(Digest::try_from(d.to_vec()).map_err(build_err)?);
    }
    b.build().map_err(build_err)
}

/// The attestation key (AK): an ECC P-256 restricted signing primary in the endorsement
/// hierarchy, ECDSA with SHA-256. Restricted (Part 1 §25.2.3): it signs only what the TPM
/// itself produced (TPMS_ATTEST of TPM2_Certify, TPM2_NV_Certify, …, which begin with
/// TPM_GENERATED_VALUE), never a digest a program brings — so anyone may use it, and nobody
/// can make it vouch for a forged statement. A primary: the TPM re-derives the same key
/// from the endorsement seed and this template every time (a reset of tpm-passkey or a
/// TPM2_Clear of the owner hierarchy leaves it as it was), so there is no blob to keep.
/// `unique.x` names tpm-passkey, so the key is ours and not another program's AK.
pub fn attestation_key() -> Result<Public> {
    use sha2::Digest as _;
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .with_no_da(true)
        .build()
        .map_err(build_err)?;
    let params = PublicEccParametersBuilder::new()
        .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
        .with_curve(EccCurve::NistP256)
        .with_is_signing_key(true)
        .with_is_decryption_key(false)
        .with_restricted(true)
        .with_key_derivation_function_scheme(
            tss_esapi::structures::KeyDerivationFunctionScheme::Null,
        )
        .build()
        .map_err(build_err)?;
    ecc_primary(
        attrs,
        params,
        &sha2::Sha256::digest(b"tpm-passkey attestation key"),
    )
}
