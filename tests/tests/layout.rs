//! The workspace layout the Tauri CLI and `cargo build` both rely on: one tauri.conf.json
//! at the root, reached from src-tauri through a symlink, with paths relative to src-tauri.
#![allow(clippy::unwrap_used)]
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

#[test]
fn src_tauri_config_is_a_symlink_to_the_root_file() {
    let link = root().join("src-tauri/tauri.conf.json");
    let meta = std::fs::symlink_metadata(&link).expect("src-tauri/tauri.conf.json exists");
    assert!(
        meta.file_type().is_symlink(),
        "must be a symlink, not a copy that can drift"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../tauri.conf.json")
    );
    assert_eq!(
        std::fs::read(&link).unwrap(),
        std::fs::read(root().join("tauri.conf.json")).unwrap()
    );
}

#[test]
fn config_paths_resolve_from_src_tauri() {
    let conf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tauri.conf.json")).unwrap())
            .expect("valid JSON");
    let base = root().join("src-tauri");
    let dist = conf["build"]["frontendDist"]
        .as_str()
        .expect("frontendDist");
    assert!(
        base.join(dist).join("index.html").is_file(),
        "{dist}/index.html from src-tauri"
    );
    let icons = conf["bundle"]["icon"].as_array().expect("icons");
    assert!(!icons.is_empty());
    for icon in icons {
        let p = base.join(icon.as_str().unwrap());
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            &bytes[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is a PNG",
            p.display()
        );
    }
    assert!(
        base.join("capabilities/default.json").is_file(),
        "capabilities sit beside the app crate"
    );
}

/// The .deb carries the daemon's session integration: every file the bundle names exists
/// (staged ones are made by contrib/build-deb.sh), and the postinst script is executable.
#[test]
fn deb_bundle_names_files_that_exist() {
    use std::os::unix::fs::PermissionsExt;
    let conf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tauri.conf.json")).unwrap()).unwrap();
    let deb = &conf["bundle"]["linux"]["deb"];
    let base = root().join("src-tauri");
    let files = deb["files"].as_object().expect("bundle.linux.deb.files");
    for want in [
        "/usr/bin/tpm-passkey",
        "/usr/bin/tpm-passkey-prompt",
        "/usr/lib/systemd/user/tpm-passkey.service",
        "/usr/lib/udev/rules.d/70-tpm-passkey.rules",
        "/usr/lib/modules-load.d/tpm-passkey.conf",
    ] {
        assert!(files.contains_key(want), "{want} missing from the .deb");
    }
    for (dest, src) in files {
        let src = src.as_str().unwrap();
        if src.starts_with("deb-staging/") {
            continue; // made by contrib/build-deb.sh
        }
        assert!(base.join(src).is_file(), "{dest}: {src} does not exist");
    }
    let postinst = base.join(deb["postInstallScript"].as_str().expect("postinst"));
    let mode = std::fs::metadata(&postinst).unwrap().permissions().mode();
    assert!(
        mode & 0o111 != 0,
        "{} must be executable",
        postinst.display()
    );
    let script = std::fs::read_to_string(root().join("contrib/build-deb.sh")).unwrap();
    assert!(script.contains("deb-staging/tpm-passkey") || script.contains("$stage/tpm-passkey"));
}

/// The README starts with exactly two commands for a fresh machine: one runs the product
/// (builds the daemon and the app, then `tpm-passkey up`), one runs every test.
#[test]
fn readme_starts_with_the_run_and_the_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block at the top");
    assert!(
        readme.find("```sh") < readme.find("\n## "),
        "the commands come before any section"
    );
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert_eq!(
        commands[0],
        "bash .ci/setup && cargo build --release -p tpm-passkey -p tpm-passkey-app && target/release/tpm-passkey up"
    );
    assert_eq!(commands[1], "bash .ci/run");
    for pkg in ["crates/daemon/Cargo.toml", "src-tauri/Cargo.toml"] {
        let manifest = std::fs::read_to_string(root().join(pkg)).unwrap();
        assert!(
            manifest.contains("name = \"tpm-passkey\"")
                || manifest.contains("name = \"tpm-passkey-app\""),
            "{pkg}"
        );
    }
    let run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        run.contains(".ci/setup") && run.contains(".ci/test"),
        "{run}"
    );
}
