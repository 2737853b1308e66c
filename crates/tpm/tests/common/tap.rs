//! A recording TCP proxy in front of a swtpm: everything the TSS sends and receives on
//! the command port is kept, so a test can search the bus traffic for secrets.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use tpm_passkey_tpm::{TctiChoice, TctiSource};

pub struct Tap {
    pub port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream, seen: Option<Arc<Mutex<Vec<u8>>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        // Record before forwarding, so that once the answer is back the question is in.
        if let Some(s) = &seen {
            s.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Forwards connections on `listener` to `target`, recording both directions if `seen`.
fn forward(listener: TcpListener, target: u16, seen: Option<Arc<Mutex<Vec<u8>>>>) {
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
                break;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (a, b) = (seen.clone(), seen.clone());
            thread::spawn(move || pipe(client, server, a));
            thread::spawn(move || pipe(s2, c2, b));
        }
    });
}

impl Tap {
    /// Listens on a free port pair P, P+1 and forwards to swtpm's `port`, `port + 1`.
    pub fn new(swtpm_port: u16) -> Self {
        let (data, ctrl) = loop {
            let d = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let p = d.local_addr().unwrap().port();
            if let Ok(c) = TcpListener::bind((Ipv4Addr::LOCALHOST, p + 1)) {
                break (d, c);
            }
        };
        let port = data.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        forward(data, swtpm_port, Some(seen.clone()));
        forward(ctrl, swtpm_port + 1, None);
        Tap { port, seen }
    }

    pub fn tcti(&self) -> TctiChoice {
        TctiChoice::swtpm(self.port, TctiSource::Explicit)
    }

    pub fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}
