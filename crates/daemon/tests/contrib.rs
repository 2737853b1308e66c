//! Session integration (contrib/): install.sh stages the binary, the systemd user unit, the
//! udev rule, the module-load file, the .desktop entry and the icon; systemd itself checks
//! the unit it would load.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn contrib() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib")
}

#[test]
fn install_stages_every_file_and_systemd_accepts_the_unit() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(contrib().join("install.sh"))
        .env("DESTDIR", root.path())
        .args(["--bin", env!("CARGO_BIN_EXE_tpm-passkey")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("systemctl --user enable --now tpm-passkey")
    );

    let r = |p: &str| root.path().join(p.trim_start_matches('/'));
    let bin = r("/usr/local/bin/tpm-passkey");
    assert_eq!(bin.metadata().unwrap().permissions().mode() & 0o777, 0o755);
    let unit = std::fs::read_to_string(r("/usr/lib/systemd/user/tpm-passkey.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/tpm-passkey daemon --start-app /usr/local/bin/tpm-passkey-prompt\n"),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=default.target"));
    let rules = std::fs::read_to_string(r("/etc/udev/rules.d/70-tpm-passkey.rules")).unwrap();
    // Users get our hidraw node, never /dev/uhid itself (any rule line naming uhid).
    assert!(rules.contains("TAG+=\"uaccess\""));
    assert!(
        !rules
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("uhid")),
        "{rules}"
    );
    assert!(rules.contains("GROUP=\"tss\""));
    let socket =
        std::fs::read_to_string(r("/usr/lib/systemd/system/tpm-passkey-uhid.socket")).unwrap();
    assert!(
        socket.contains("Accept=yes")
            && socket.contains("ListenSequentialPacket=/run/tpm-passkey/uhid.sock")
    );
    let helper =
        std::fs::read_to_string(r("/usr/lib/systemd/system/tpm-passkey-uhid@.service")).unwrap();
    assert!(
        helper.contains("ExecStart=/usr/local/bin/tpm-passkey uhid-helper\n"),
        "{helper}"
    );
    assert!(helper.contains("DeviceAllow=/dev/uhid rw"));
    // Both units name documents that exist where they point (no placeholder host).
    for u in [&unit, &helper] {
        let docs: Vec<&str> = u
            .lines()
            .filter_map(|l| l.strip_prefix("Documentation="))
            .flat_map(str::split_whitespace)
            .collect();
        assert!(!docs.is_empty(), "{u}");
        for d in docs {
            let path = d.strip_prefix("file://").unwrap_or_else(|| panic!("{d}"));
            assert!(r(path).is_file(), "{d} is not installed");
        }
    }
    assert_eq!(
        std::fs::read_to_string(r("/etc/modules-load.d/tpm-passkey.conf"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["uhid"]
    );
    let desktop =
        std::fs::read_to_string(r("/usr/local/share/applications/tpm-passkey.desktop")).unwrap();
    assert!(desktop.starts_with("[Desktop Entry]\n"));
    assert!(desktop.contains("Exec=/usr/local/bin/tpm-passkey-app\n"));
    assert!(r("/usr/local/share/icons/hicolor/128x128/apps/tpm-passkey.png").is_file());

    // systemd's own offline check of the unit, pointed at the staged binary. It must load
    // without a single complaint (unknown keys are only warnings, so stderr must be empty).
    let check = tempfile::tempdir().unwrap();
    let runtime = check.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let staged = unit.replace(
        "ExecStart=/usr/local/bin/",
        &format!("ExecStart={}/", bin.parent().unwrap().display()),
    );
    let file = check.path().join("tpm-passkey.service");
    std::fs::write(&file, staged).unwrap();
    let v = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(&file)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("systemd-analyze (apt systemd) is needed for this test");
    assert!(
        v.status.success() && v.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );

    // The helper's system units, the same way (the instance unit needs its socket beside it).
    let sys = check.path().join("system");
    std::fs::create_dir(&sys).unwrap();
    std::fs::write(
        sys.join("tpm-passkey-uhid@.service"),
        helper.replace(
            "ExecStart=/usr/local/bin/",
            &format!("ExecStart={}/", bin.parent().unwrap().display()),
        ),
    )
    .unwrap();
    std::fs::write(sys.join("tpm-passkey-uhid.socket"), &socket).unwrap();
    let v = Command::new("systemd-analyze")
        .args(["verify", "--system"])
        .arg(sys.join("tpm-passkey-uhid.socket"))
        .arg(sys.join("tpm-passkey-uhid@.service"))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", sys.display()))
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&v.stderr);
    assert!(
        v.status.success() && !complaints.contains("tpm-passkey"),
        "systemd-analyze verify --system: {complaints}"
    );
}

#[test]
fn install_refuses_a_missing_binary_with_advice() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(contrib().join("install.sh"))
        .env("DESTDIR", root.path())
        .args(["--bin", "/nonexistent/tpm-passkey"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo build --release -p tpm-passkey"));
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing staged"
    );
}
