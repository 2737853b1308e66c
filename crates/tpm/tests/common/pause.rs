//! A TCP proxy in front of swtpm that holds one chosen command back while a hook runs: the
//! moment another program, connecting to the same swtpm between two of our commands, has
//! to act. The hook sees the held command's bytes — what anyone on that socket sees —
//! and the swtpm is free meanwhile (the proxy connects upstream per command, as the swtpm
//! TCTI does).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use tpm_passkey_tpm::{TctiChoice, TctiSource};

type Hook = Box<dyn FnMut(&[u8]) + Send>;

pub struct Pause {
    port: u16,
    hook: Arc<Mutex<Option<(u32, Hook)>>>,
}

fn read_message(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut header = [0u8; 10];
    r.read_exact(&mut header).ok()?;
    let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if !(10..=8192).contains(&size) {
        return None;
    }
    let mut out = header.to_vec();
    out.resize(size, 0);
    r.read_exact(&mut out[10..]).ok()?;
    Some(out)
}

fn pipe(client: TcpStream, upstream: u16) {
    let Ok(tpm) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
        return;
    };
    let (mut c2, mut t2) = (client.try_clone().unwrap(), tpm.try_clone().unwrap());
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut t2);
        let _ = t2.shutdown(Shutdown::Write);
    });
    let (mut c, mut t) = (client, tpm);
    let _ = std::io::copy(&mut t, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
}

impl Pause {
    /// A proxy for the swtpm on `swtpm_port` (control channel on the next port).
    pub fn new(swtpm_port: u16) -> Self {
        let (data, ctrl) = loop {
            let d = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let p = d.local_addr().unwrap().port();
            if let Ok(c) = TcpListener::bind((Ipv4Addr::LOCALHOST, p + 1)) {
                break (d, c);
            }
        };
        let port = data.local_addr().unwrap().port();
        let hook: Arc<Mutex<Option<(u32, Hook)>>> = Arc::new(Mutex::new(None));
        let h = hook.clone();
        thread::spawn(move || {
            for mut client in data.incoming().flatten() {
                while let Some(cmd) = read_message(&mut client) {
                    let code = u32::from_be_bytes([cmd[6], cmd[7], cmd[8], cmd[9]]);
                    let due = h
                        .lock()
                        .unwrap()
                        .take_if(|(c, _)| *c == code)
                        .map(|(_, f)| f);
                    if let Some(mut f) = due {
                        f(&cmd);
                    }
                    let Ok(mut tpm) = TcpStream::connect((Ipv4Addr::LOCALHOST, swtpm_port)) else {
                        break;
                    };
                    let Some(response) = tpm
                        .write_all(&cmd)
                        .ok()
                        .and_then(|()| read_message(&mut tpm))
                    else {
                        break;
                    };
                    if client.write_all(&response).is_err() {
                        break;
                    }
                }
            }
        });
        thread::spawn(move || {
            for client in ctrl.incoming().flatten() {
                thread::spawn(move || pipe(client, swtpm_port + 1));
            }
        });
        Pause { port, hook }
    }

    /// Runs `hook` once, with the command's bytes, when the next command with code
    /// `code` comes, before it is passed on.
    pub fn before(&self, code: u32, hook: impl FnMut(&[u8]) + Send + 'static) {
        *self.hook.lock().unwrap() = Some((code, Box::new(hook)));
    }

    /// Whether the hook has run.
    pub fn fired(&self) -> bool {
        self.hook.lock().unwrap().is_none()
    }

    pub fn tcti(&self) -> TctiChoice {
        TctiChoice::swtpm(self.port, TctiSource::Explicit)
    }
}

/// The first session handle in a command's authorization area, for a command with
/// `handles` handles (Part 1 §18: header, handles, authorizationSize, sessions).
pub fn first_session(cmd: &[u8], handles: usize) -> u32 {
    let at = 10 + 4 * handles + 4;
    u32::from_be_bytes([cmd[at], cmd[at + 1], cmd[at + 2], cmd[at + 3]])
}
