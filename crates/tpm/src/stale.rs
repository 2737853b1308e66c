//! Objects and sessions left in the TPM by a process that died without flushing them.
//!
//! With a resource manager (/dev/tpmrm0, tabrmd) the kernel or daemon flushes a dead
//! client's handles, and a new connection sees none of anyone's. Without one (the embedded
//! swtpm, `--tcti swtpm:`, `device:/dev/tpm0`) a SIGKILLed daemon leaves its root key and
//! any open session behind; three of those and the TPM is out of object or session memory
//! for good. Such a TPM serves one connection at a time (swtpm) or one opener (/dev/tpm0),
//! so whatever transient object or session is there when we connect is stale.
//!
//! ESYS (tpm2-tss 3.2) cannot name a session it did not start, so this is done before the
//! ESYS context exists, with two raw commands on the TCTI's own transport: TPM2_GetCapability
//! (TPM_CAP_HANDLES, Part 3 §30.2) for transient objects and loaded/saved sessions, then
//! TPM2_FlushContext (Part 3 §28.4) for each.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::TctiChoice;

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_CC_GET_CAPABILITY: u32 = 0x0000_017A;
const TPM_CC_FLUSH_CONTEXT: u32 = 0x0000_0165;
const TPM_CAP_HANDLES: u32 = 0x0000_0001;
/// TPM_HT_TRANSIENT, TPM_HT_LOADED_SESSION, TPM_HT_SAVED_SESSION as the first handle of
/// each range (Part 2 §7.2).
const RANGES: [u32; 3] = [0x8000_0000, 0x0200_0000, 0x0300_0000];
/// A raw TPM answer is at most a few kilobytes; anything larger is not a TPM.
const MAX_RESPONSE: usize = 4096;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

trait Transport {
    fn transmit(&mut self, command: &[u8]) -> std::io::Result<Vec<u8>>;
}

/// swtpm's TCP server port takes raw TPM commands.
struct Tcp(TcpStream);

/// swtpm's Unix socket (the embedded simulator's, through its relay) takes the same.
struct Unix(UnixStream);

/// A TPM character device without a resource manager (/dev/tpm0).
struct Device(std::fs::File);

fn read_response(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 10];
    r.read_exact(&mut header)?;
    let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if !(10..=MAX_RESPONSE).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a TPM response",
        ));
    }
    let mut out = header.to_vec();
    out.resize(size, 0);
    r.read_exact(&mut out[10..])?;
    Ok(out)
}

impl Transport for Tcp {
    fn transmit(&mut self, command: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(command)?;
        read_response(&mut self.0)
    }
}

impl Transport for Unix {
    fn transmit(&mut self, command: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(command)?;
        read_response(&mut self.0)
    }
}

impl Transport for Device {
    fn transmit(&mut self, command: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(command)?;
        // The device answers one whole response per read.
        let mut buf = vec![0u8; MAX_RESPONSE];
        let n = self.0.read(&mut buf)?;
        buf.truncate(n);
        read_response(&mut &buf[..])
    }
}

fn command(cc: u32, params: &[u8]) -> Vec<u8> {
    let mut c = TPM_ST_NO_SESSIONS.to_be_bytes().to_vec();
    c.extend_from_slice(&((10 + params.len()) as u32).to_be_bytes());
    c.extend_from_slice(&cc.to_be_bytes());
    c.extend_from_slice(params);
    c
}

fn rc(response: &[u8]) -> u32 {
    u32::from_be_bytes([response[6], response[7], response[8], response[9]])
}

/// The handles of one range, from TPM2_GetCapability(TPM_CAP_HANDLES).
fn handles(t: &mut dyn Transport, first: u32) -> std::io::Result<Vec<u32>> {
    let mut p = TPM_CAP_HANDLES.to_be_bytes().to_vec();
    p.extend_from_slice(&first.to_be_bytes());
    p.extend_from_slice(&64u32.to_be_bytes());
    let r = t.transmit(&command(TPM_CC_GET_CAPABILITY, &p))?;
    if rc(&r) != 0 || r.len() < 19 {
        return Ok(Vec::new());
    }
    // moreData (1) ‖ capability (4) ‖ count (4) ‖ handles
    let count = u32::from_be_bytes([r[15], r[16], r[17], r[18]]) as usize;
    let body = &r[19..];
    // Loaded policy sessions are listed under TPM_HT_LOADED_SESSION with their own 0x03…
    // handles: every handle returned is one to flush.
    Ok(body
        .chunks_exact(4)
        .take(count)
        .map(|h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
        .collect())
}

fn flush_all(t: &mut dyn Transport) -> std::io::Result<usize> {
    let mut flushed = 0;
    let mut seen = std::collections::BTreeSet::new();
    for first in RANGES {
        for h in handles(t, first)? {
            if seen.insert(h)
                && rc(&t.transmit(&command(TPM_CC_FLUSH_CONTEXT, &h.to_be_bytes()))?) == 0
            {
                flushed += 1;
            }
        }
    }
    Ok(flushed)
}

/// The raw transport of `tcti` when it has no resource manager and we know how to speak
/// to it; None otherwise (tabrmd, /dev/tpmrm*, mssim's framed protocol).
fn transport(tcti: &TctiChoice, timeout: Duration) -> Result<Option<Box<dyn Transport>>, String> {
    let conf = tcti.as_str();
    if let Some(crate::tcti::SwtpmEndpoint::Unix(path)) = tcti.swtpm_endpoint() {
        let s = UnixStream::connect(path).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        return Ok(Some(Box::new(Unix(s))));
    }
    if let Some(crate::tcti::SwtpmEndpoint::Tcp(host, port)) = tcti.swtpm_endpoint() {
        // Bounded: a stopped swtpm leaves connections in its backlog unanswered, and an
        // unbounded connect would retry SYNs for two minutes.
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        return Ok(Some(Box::new(Tcp(s))));
    }
    Ok(device(conf))
}

fn device(conf: &str) -> Option<Box<dyn Transport>> {
    if let Some(path) = conf.strip_prefix("device:") {
        if path.contains("/tpmrm") {
            return None;
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .ok()?;
        return Some(Box::new(Device(f)));
    }
    None
}

/// Flushes every transient object and session a TPM without a resource manager holds;
/// returns how many. Call before connecting for real: the transport is closed on return.
///
/// It doubles as a liveness probe: with a `timeout`, a swtpm that does not accept or
/// answer within it is reported as unreachable (`Err`), so that a reconnection attempt to
/// a hung TPM costs at most that long.
pub(crate) fn flush_stale(tcti: &TctiChoice, timeout: Option<Duration>) -> Result<usize, String> {
    let probing = timeout.is_some();
    let mut t = match transport(tcti, timeout.unwrap_or(IO_TIMEOUT).min(IO_TIMEOUT)) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(0),
        Err(e) if probing => return Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "could not look for stale TPM handles");
            return Ok(0);
        }
    };
    match flush_all(&mut *t) {
        Ok(0) => Ok(0),
        Ok(n) => {
            tracing::warn!(
                flushed = n,
                "flushed objects and sessions a previous process left in the TPM (it has no resource manager)"
            );
            Ok(n)
        }
        Err(e) if probing => Err(e.to_string()),
        Err(e) => {
            tracing::debug!(error = %e, "could not look for stale TPM handles");
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_laid_out_as_part_3_says() {
        let c = command(TPM_CC_FLUSH_CONTEXT, &0x8000_0001u32.to_be_bytes());
        assert_eq!(
            c,
            [0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x65, 0x80, 0, 0, 1]
        );
        assert!(read_response(&mut &[0x80, 0x01, 0, 0, 0x10, 0, 0, 0, 0, 0][..]).is_err());
    }
}
