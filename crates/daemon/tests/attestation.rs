//! `tpm` attestation end to end (docs/DESIGN.md "TPM attestation"): a swtpm with an EK
//! certificate from its maker's CA (`swtpm_setup --create-ek-cert`), a test CA
//! (tests/python/attestation_ca.py) that checks the EK certificate and enrols the AK by
//! credential activation, the daemon installing the certificate, and py_webauthn — an
//! independent relying-party library — accepting a registration's statement with that CA
//! as trust anchor and refusing it with another. A credential made for another key is
//! refused by the TPM.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Agent, Daemon, PIN};
use tpm_passkey_tpm::Swtpm;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A TPM state with EK certificates, as a TPM maker provisions it; returns the maker's roots.
fn provision(dir: &Path) -> Vec<PathBuf> {
    let config = dir.join("swtpm-config");
    std::fs::create_dir_all(&config).unwrap();
    let setup = || {
        let mut c = Command::new("swtpm_setup");
        c.env("XDG_CONFIG_HOME", &config);
        c
    };
    run(setup().args(["--create-config-files", "root,skip-if-exist"]));
    std::fs::create_dir_all(dir.join("tpm")).unwrap();
    run(setup()
        .args(["--tpm2", "--create-ek-cert", "--overwrite", "--tpmstate"])
        .arg(dir.join("tpm")));
    let ca = config.join("var/lib/swtpm-localca");
    vec![
        ca.join("issuercert.pem"),
        ca.join("swtpm-localca-rootca-cert.pem"),
    ]
}

fn ca(args: &[&std::ffi::OsStr]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/attestation_ca.py");
    Command::new("python3")
        .arg(script)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap()
}

#[test]
fn an_enrolled_tpm_attests_new_passkeys_and_a_relying_party_checks_them_against_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let roots = provision(dir.path());
    let swtpm = Swtpm::start(&dir.path().join("tpm")).unwrap();
    let d = Daemon::start_on(swtpm.tcti().as_str(), Agent::ApproveAll);
    let status: serde_json::Value =
        serde_json::from_str(&d.ok(&["attestation", "status", "--json"])).unwrap();
    assert_eq!(status["provisioned"], false);
    let out = d.cli(&["attestation", "on"]);
    assert!(!out.status.success(), "on without a certificate");

    let p = |n: &str| dir.path().join(n);
    let req = p("request.json");
    d.ok(&["attestation", "request", "--out", req.to_str().unwrap()]);
    for name in ["ca", "other-ca"] {
        let o = ca(&["newca".as_ref(), p(name).as_os_str()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let issue = |response: &Path, extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "issue".as_ref(),
            p("ca").into_os_string().leak(),
            req.as_os_str(),
            response.as_os_str(),
        ];
        args.extend(roots.iter().map(|r| r.as_os_str()));
        args.extend(extra.iter().map(|e| std::ffi::OsStr::new(*e)));
        let o = ca(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };

    // Attack: a credential sealed to our EK but for another key's Name. The TPM refuses to
    // activate it, so the certificate inside cannot be read or installed.
    let bad = p("response-wrong-name.json");
    issue(&bad, &["--wrong-name"]);
    let out = d.cli(&["attestation", "install", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused to activate"), "{err}");

    // A certificate for another key than the AK, delivered correctly: refused at install.
    let other = p("response-other-key.json");
    issue(&other, &["--other-key"]);
    let out = d.cli(&["attestation", "install", other.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another key"), "{err}");

    let good = p("response.json");
    issue(&good, &[]);
    d.ok(&["attestation", "install", good.to_str().unwrap()]);
    let status: serde_json::Value =
        serde_json::from_str(&d.ok(&["attestation", "status", "--json"])).unwrap();
    assert_eq!(
        (status["provisioned"].as_bool(), status["on"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        status["issuer"]
            .as_str()
            .unwrap()
            .contains("Test attestation CA ca"),
        "{status}"
    );
    d.ok(&["attestation", "on"]);

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/py_webauthn_e2e.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("tpm_attestation")
        .env("TPM_PASSKEY_HID", d.hid())
        .env("TPM_PASSKEY_PIN", PIN)
        .env("TPM_PASSKEY_CA", p("ca").join("ca.pem"))
        .env("TPM_PASSKEY_OTHER_CA", p("other-ca").join("ca.pem"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}\n--- daemon\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    let audit = d.ok(&["audit", "--limit", "100"]);
    assert!(
        audit.contains("attestation certificate installed"),
        "{audit}"
    );
}

/// The embedded simulator has no EK certificate: the request says so plainly.
#[test]
fn a_tpm_without_an_ek_certificate_says_so() {
    let d = Daemon::start(Agent::None);
    let out = d.cli(&["attestation", "request"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no RSA 2048 EK certificate"), "{err}");
}
