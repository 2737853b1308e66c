//! Which TPM to talk to, chosen the way tpm2-tools chooses: an explicit `--tcti` string
//! first, then the `TPM2TOOLS_TCTI` and `TCTI` environment variables, then the kernel's
//! resource manager `/dev/tpmrm0` if it exists. With none of these there is no TPM, and the
//! caller decides whether to start the embedded simulator ([`crate::Swtpm`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tpm_passkey_core::TpmPath;
use tss_esapi::tcti_ldr::TctiNameConf;

use crate::{Error, Result};

/// Where a `swtpm:` interface listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SwtpmEndpoint {
    Tcp(String, u16),
    Unix(PathBuf),
}

/// A validated TCTI configuration string (`device:…`, `tabrmd:…`, `swtpm:…`, `mssim:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TctiChoice {
    conf: String,
    source: TctiSource,
}

/// Where a [`TctiChoice`] came from, so that status screens can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TctiSource {
    /// Given on the command line or by the caller.
    Explicit,
    /// From the `TPM2TOOLS_TCTI` or `TCTI` environment variable.
    Environment,
    /// The kernel resource manager, found at `/dev/tpmrm0`.
    Device,
    /// The embedded swtpm this process started.
    Simulator,
}

const DEFAULT_DEVICE: &str = "/dev/tpmrm0";

impl TctiChoice {
    /// Parses and checks a TCTI string without connecting.
    pub fn parse(conf: &str, source: TctiSource) -> Result<Self> {
        let conf = conf.trim();
        let (name, _) = conf.split_once(':').unwrap_or((conf, ""));
        if !matches!(name, "device" | "tabrmd" | "swtpm" | "mssim")
            || TctiNameConf::from_str(conf).is_err()
        {
            return Err(Error::BadTcti(conf.to_owned()));
        }
        Ok(TctiChoice {
            conf: conf.to_owned(),
            source,
        })
    }

    /// The TCTI of a swtpm listening on `127.0.0.1:port` (control channel on `port + 1`).
    pub fn swtpm(port: u16, source: TctiSource) -> Self {
        TctiChoice {
            conf: format!("swtpm:host=127.0.0.1,port={port}"),
            source,
        }
    }

    /// The embedded simulator as this process reaches it: a Unix socket only this process
    /// may use (`Swtpm::start_private`).
    pub(crate) fn private_simulator(socket: &Path) -> Self {
        TctiChoice {
            conf: format!("swtpm:path={}", socket.display()),
            source: TctiSource::Simulator,
        }
    }

    /// Resolves the TPM to use: `explicit`, else the environment, else `/dev/tpmrm0` if
    /// present. `Ok(None)` means no TPM is configured or present.
    pub fn resolve(explicit: Option<&str>) -> Result<Option<Self>> {
        Self::resolve_with(
            explicit,
            |k| std::env::var(k).ok(),
            Path::new(DEFAULT_DEVICE).exists(),
        )
    }

    /// [`Self::resolve`] with the environment and the device check supplied, for tests.
    pub fn resolve_with(
        explicit: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        device_present: bool,
    ) -> Result<Option<Self>> {
        if let Some(conf) = explicit {
            return Self::parse(conf, TctiSource::Explicit).map(Some);
        }
        for var in ["TPM2TOOLS_TCTI", "TCTI"] {
            if let Some(conf) = env(var).filter(|v| !v.trim().is_empty()) {
                return Self::parse(&conf, TctiSource::Environment).map(Some);
            }
        }
        if device_present {
            return Self::parse(&format!("device:{DEFAULT_DEVICE}"), TctiSource::Device).map(Some);
        }
        Ok(None)
    }

    pub fn as_str(&self) -> &str {
        &self.conf
    }

    /// Whether a resource manager stands between us and the TPM (the kernel's
    /// /dev/tpmrm*, or tabrmd), flushing a dead client's objects and hiding other clients'.
    pub fn has_resource_manager(&self) -> bool {
        let s = self.as_str();
        s.starts_with("tabrmd") || (s.starts_with("device:") && s.contains("/tpmrm"))
    }

    /// Which way this interface reaches the TPM, and so who else can: only the kernel's
    /// resource manager, tabrmd and our private simulator keep other programs away from
    /// our sessions (docs/THREAT-MODEL.md "TPM paths").
    pub fn path(&self) -> TpmPath {
        let s = self.as_str();
        if s.starts_with("tabrmd") {
            TpmPath::AccessBroker
        } else if s.starts_with("device:") && s.contains("/tpmrm") {
            TpmPath::KernelResourceManager
        } else if s.starts_with("device") {
            TpmPath::DirectDevice
        } else if self.source == TctiSource::Simulator
            && matches!(self.swtpm_endpoint(), Some(SwtpmEndpoint::Unix(_)))
        {
            TpmPath::PrivateSimulator
        } else {
            TpmPath::SharedSimulator
        }
    }

    /// Where a `swtpm:` interface listens (defaults as tpm2-tss has them).
    pub(crate) fn swtpm_endpoint(&self) -> Option<SwtpmEndpoint> {
        let args = self.as_str().strip_prefix("swtpm:")?;
        let mut host = "127.0.0.1".to_owned();
        let mut port = 2321u16;
        for kv in args.split(',') {
            match kv.split_once('=') {
                Some(("host", h)) => host = h.to_owned(),
                Some(("port", p)) => port = p.parse().ok()?,
                Some(("path", p)) => return Some(SwtpmEndpoint::Unix(PathBuf::from(p))),
                _ => {}
            }
        }
        Some(SwtpmEndpoint::Tcp(host, port))
    }

    pub fn source(&self) -> TctiSource {
        self.source
    }

    /// The tss-esapi form of this interface (for a raw ESYS context, as the benches' floors
    /// use).
    pub fn name_conf(&self) -> Result<TctiNameConf> {
        if let Some(SwtpmEndpoint::Unix(path)) = self.swtpm_endpoint() {
            return Ok(TctiNameConf::SwtpmUnix(path));
        }
        TctiNameConf::from_str(&self.conf).map_err(|_| Error::BadTcti(self.conf.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn explicit_wins_over_environment_and_device() {
        let env = |k: &str| (k == "TCTI").then(|| "tabrmd:bus_type=session".to_owned());
        let c = TctiChoice::resolve_with(Some("swtpm:host=127.0.0.1,port=2321"), env, true)
            .unwrap()
            .unwrap();
        assert_eq!(c.as_str(), "swtpm:host=127.0.0.1,port=2321");
        assert_eq!(c.source(), TctiSource::Explicit);
    }

    #[test]
    fn tpm2tools_variable_before_tcti_variable() {
        let env = |k: &str| match k {
            "TPM2TOOLS_TCTI" => Some("device:/dev/tpm0".to_owned()),
            "TCTI" => Some("tabrmd:bus_type=session".to_owned()),
            _ => None,
        };
        let c = TctiChoice::resolve_with(None, env, true).unwrap().unwrap();
        assert_eq!(
            (c.as_str(), c.source()),
            ("device:/dev/tpm0", TctiSource::Environment)
        );
    }

    #[test]
    fn device_when_nothing_else_and_none_without_device() {
        let c = TctiChoice::resolve_with(None, no_env, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.as_str(), c.source()),
            ("device:/dev/tpmrm0", TctiSource::Device)
        );
        assert_eq!(TctiChoice::resolve_with(None, no_env, false).unwrap(), None);
    }

    #[test]
    fn each_interface_names_its_path_and_only_isolated_ones_keep_sessions() {
        let path = |conf: &str, source| TctiChoice::parse(conf, source).unwrap().path();
        assert_eq!(
            path("device:/dev/tpmrm0", TctiSource::Device),
            TpmPath::KernelResourceManager
        );
        assert_eq!(
            path("device:/dev/tpm0", TctiSource::Explicit),
            TpmPath::DirectDevice
        );
        assert_eq!(
            path("tabrmd:bus_type=session", TctiSource::Explicit),
            TpmPath::AccessBroker
        );
        assert_eq!(
            path("swtpm:host=127.0.0.1,port=2321", TctiSource::Explicit),
            TpmPath::SharedSimulator
        );
        // A Unix socket someone names on the command line is not ours to vouch for.
        assert_eq!(
            path("swtpm:path=/tmp/s", TctiSource::Explicit),
            TpmPath::SharedSimulator
        );
        let private = TctiChoice::private_simulator(Path::new("/run/x/tpm.sock"));
        assert_eq!(private.path(), TpmPath::PrivateSimulator);
        assert_eq!(
            private.name_conf().unwrap(),
            TctiNameConf::SwtpmUnix(PathBuf::from("/run/x/tpm.sock"))
        );
        assert!(private.path().isolates_sessions());
        assert!(!TpmPath::SharedSimulator.isolates_sessions());
        assert!(!TpmPath::DirectDevice.isolates_sessions());
    }

    #[test]
    fn unknown_interfaces_are_refused_with_help() {
        for bad in ["", "usb:whatever", "libtpms", "tpm:/dev/tpm0"] {
            let e = TctiChoice::resolve_with(Some(bad), no_env, false).unwrap_err();
            assert!(matches!(e, Error::BadTcti(_)), "{bad}: {e}");
            assert!(e.to_string().contains("device:/dev/tpmrm0"));
        }
    }
}
