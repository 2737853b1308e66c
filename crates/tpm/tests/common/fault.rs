//! A TCP proxy in front of swtpm that spoils exactly one TPM command: the k-th after
//! [`Fault::arm`]. It drops it (the connection closes with no answer: a lost response),
//! fails it (TPM_RC_FAILURE comes back), or stalls it (answered, but late). The swtpm TCTI
//! connects per command, so every command is its own connection here.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tpm_passkey_tpm::{TctiChoice, TctiSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No answer; the connection is closed.
    Drop,
    /// TPM_RC_FAILURE instead of the command's answer (the command is not run).
    Fail,
    /// The command runs; its answer comes this much later.
    Stall(Duration),
}

#[derive(Default)]
struct State {
    /// Commands since the last arm.
    seen: u32,
    /// Their names, in order.
    names: Vec<&'static str>,
    armed: Option<(u32, Mode)>,
    /// Whether the armed fault has happened.
    fired: bool,
}

pub struct Fault {
    port: u16,
    state: Arc<Mutex<State>>,
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

impl Fault {
    pub fn new(swtpm_port: u16) -> Self {
        let (data, ctrl) = loop {
            let d = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let p = d.local_addr().unwrap().port();
            if let Ok(c) = TcpListener::bind((Ipv4Addr::LOCALHOST, p + 1)) {
                break (d, c);
            }
        };
        let port = data.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        thread::spawn(move || {
            for client in data.incoming().flatten() {
                let st = st.clone();
                thread::spawn(move || serve(client, swtpm_port, &st));
            }
        });
        thread::spawn(move || {
            for client in ctrl.incoming().flatten() {
                thread::spawn(move || pipe(client, swtpm_port + 1));
            }
        });
        Fault { port, state }
    }

    /// Spoils the `k`-th command from now (1 = the next one) in `mode`.
    pub fn arm(&self, k: u32, mode: Mode) {
        *self.state.lock().unwrap() = State {
            armed: Some((k, mode)),
            ..State::default()
        };
    }

    /// Counts commands from now, spoiling none.
    pub fn count(&self) {
        *self.state.lock().unwrap() = State::default();
    }

    /// Commands since the last arm or count.
    pub fn seen(&self) -> u32 {
        self.state.lock().unwrap().seen
    }

    /// The names of the commands since the last arm or count.
    pub fn names(&self) -> Vec<&'static str> {
        self.state.lock().unwrap().names.clone()
    }

    pub fn fired(&self) -> bool {
        self.state.lock().unwrap().fired
    }

    pub fn tcti(&self) -> TctiChoice {
        TctiChoice::swtpm(self.port, TctiSource::Explicit)
    }
}

fn serve(mut client: TcpStream, upstream: u16, state: &Mutex<State>) {
    while let Some(cmd) = read_message(&mut client) {
        let mode = {
            let mut s = state.lock().unwrap();
            s.seen += 1;
            let code = u32::from_be_bytes([cmd[6], cmd[7], cmd[8], cmd[9]]);
            s.names
                .push(tpm_passkey_tpm::command_count::command_name(code));
            match s.armed {
                Some((k, mode)) if s.seen == k => {
                    s.fired = true;
                    Some(mode)
                }
                _ => None,
            }
        };
        let response = match mode {
            Some(Mode::Drop) => {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Some(Mode::Fail) => {
                // TPM_ST_NO_SESSIONS, size 10, TPM_RC_FAILURE.
                vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01]
            }
            Some(Mode::Stall(d)) => {
                let r = forward(&cmd, upstream);
                thread::sleep(d);
                match r {
                    Some(r) => r,
                    None => return,
                }
            }
            None => match forward(&cmd, upstream) {
                Some(r) => r,
                None => return,
            },
        };
        if client.write_all(&response).is_err() {
            return;
        }
    }
}

fn forward(cmd: &[u8], upstream: u16) -> Option<Vec<u8>> {
    let mut tpm = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)).ok()?;
    tpm.write_all(cmd).ok()?;
    read_message(&mut tpm)
}
