//! Which TPM the daemon and CLI use: `--tcti`, else the environment, else /dev/tpmrm0,
//! else (or with `--simulator`) the embedded swtpm, announced as not hardware-protected.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tpm_passkey_tpm::{Swtpm, TctiChoice};

/// The warning every surface shows while the embedded simulator is in use.
pub const SIMULATED_WARNING: &str = "simulated TPM — not hardware-protected";

#[derive(Debug, Clone, Args)]
pub struct TpmSelect {
    /// TPM interface: device:/dev/tpmrm0, tabrmd:bus_type=session or swtpm:host=H,port=P.
    #[arg(long, conflicts_with = "simulator")]
    pub tcti: Option<String>,
    /// Use the embedded software TPM (swtpm) even if a hardware TPM is present.
    #[arg(long)]
    pub simulator: bool,
    /// Where state is kept [default: $XDG_DATA_HOME/tpm-passkey].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// The TPM in use; holds the simulator process (if any) for as long as it lives.
#[derive(Debug)]
pub struct Chosen {
    pub tcti: TctiChoice,
    pub simulator: Option<Swtpm>,
}

impl TpmSelect {
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }

    /// The TPM to use. The embedded simulator is started private to this process
    /// (no socket another program or account can reach), with `deadline` per command.
    pub fn choose(&self, deadline: Duration) -> Result<Chosen, tpm_passkey_tpm::Error> {
        if !self.simulator {
            if let Some(tcti) = TctiChoice::resolve(self.tcti.as_deref())? {
                if !tcti.path().isolates_sessions() {
                    tracing::warn!(
                        tcti = tcti.as_str(),
                        "this TPM interface is not isolated: other programs can reach the TPM directly, so no PIN session is kept between requests ({})",
                        tcti.path().explain()
                    );
                }
                return Ok(Chosen {
                    tcti,
                    simulator: None,
                });
            }
            tracing::warn!("no TPM device found; starting the embedded simulator");
        }
        let swtpm = Swtpm::start_private_with_deadline(&self.state_dir().join("swtpm"), deadline)?;
        Ok(Chosen {
            tcti: swtpm.tcti(),
            simulator: Some(swtpm),
        })
    }
}

fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("tpm-passkey")
}
