// Copyright 2020 Contributors to the Parsec project.
// SPDX-License-Identifier: Apache-2.0
pub mod algorithm_property;
pub mod command_code;
pub mod command_code_attributes;
pub mod digest;
pub mod digest_values;
pub mod ecc_curves;
pub mod handles;
pub mod pcr_selection;
pub mod tagged_pcr_property;
pub mod tagged_tpm_property;
