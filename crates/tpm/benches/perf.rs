//! Every performance figure of docs/PERFORMANCE.md, in one run on one swtpm, each with its
//! ratio to the raw TPM floor measured in the same run through tss-esapi directly:
//!
//! * R_up  = Load + Sign + FlushContext of an empty-auth P-256 key;
//! * R_pin = StartAuthSession(policy) + PolicySecret(PIN index, through a salted session
//!   kept for the run) + Load + Sign + FlushContext of a key bound to that index.
//!
//! The product figures run the CTAP requests a browser sends through the engine over the
//! real key store (`TpmKeyStore`) and a store on disk, the agent answering at once; the
//! store-size figures repeat the sign-ins with 10 and with 10,000 discoverable passkeys
//! over 1,000 sites (seeded in one transaction from one TPM-made key, not 10,000 creates).
//! Raw floors are timed before and after the product figures and the faster run is used,
//! so that warm-up favours the floor. Medians; nothing is asserted about time.
//!
//! By default on the private simulator — the path a user without a TPM chip has, isolated
//! like the kernel's resource manager, its relay counting every command — and then the
//! ceremonies again on a swtpm over TCP, a path other programs can reach (tests), where no
//! satisfied PIN session may wait. With `--tcti STRING` (e.g. `device:/dev/tpmrm0` in the
//! TPM guest, issue 20) on that TPM instead: floors and ceremonies.
//!
//! `cargo bench -p tpm-passkey-tpm --bench perf [-- --iterations N] [--tcti STRING]`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "floors.rs"]
mod floors;
#[path = "platform.rs"]
mod platform;

use std::time::{Duration, Instant};

use ciborium::value::Value;
use floors::{median, raw_floors, Floors};
use platform::*;
use sha2::{Digest as _, Sha256};
use tpm_passkey_core::{Engine, KeyStore as _, PinHash, Store};
use tpm_passkey_tpm::command_count::{total, CommandCounter};
use tpm_passkey_tpm::{Swtpm, TpmKeyStore};

thread_local! {
    /// While counting: the proxy, and the commands of the last timed section.
    static COUNTING: std::cell::RefCell<Option<(CommandCounter, u32)>> =
        const { std::cell::RefCell::new(None) };
}

/// Times `f` — the part of a figure that is the operation itself — and, while counting,
/// counts its TPM commands (and only its: set-up around it is not counted).
fn timed(f: impl FnOnce()) -> Duration {
    COUNTING.with_borrow(|c| {
        if let Some((counter, _)) = c {
            counter.take();
        }
    });
    let t = Instant::now();
    f();
    let elapsed = t.elapsed();
    COUNTING.with_borrow_mut(|c| {
        if let Some((counter, last)) = c {
            *last = total(&counter.take());
        }
    });
    elapsed
}

type TpmEngine = Engine<TpmKeyStore, Approve, tpm_passkey_core::SystemClock>;

fn engine(tcti: &tpm_passkey_tpm::TctiChoice, dir: Option<&std::path::Path>) -> TpmEngine {
    let keys = TpmKeyStore::open(tcti, None, None).unwrap();
    let store = match dir {
        Some(dir) => Store::open(&dir.join("store.sqlite")).unwrap(),
        None => Store::open_in_memory().unwrap(),
    };
    let mut e = Engine::new(keys, Approve, store).unwrap();
    // alwaysUv off while no PIN is set (user-presence credentials for the store figures).
    ok(&mut e, &cbor(0x0d, map(vec![(1.into(), 2.into())])));
    e
}

struct Figure {
    name: &'static str,
    time: Duration,
    floor: &'static str,
    commands: Option<u32>,
}

/// The sign-in and registration figures, on a store with a PIN kept on disk as the daemon
/// keeps it (SQLite WAL, synchronous=FULL), with each one's TPM commands where `counter`
/// sees them (counted on a run of their own: a proxy's relaying would be in the times).
fn ceremonies(
    tcti: &tpm_passkey_tpm::TctiChoice,
    counter: Option<&CommandCounter>,
    n: usize,
    out: &mut Vec<Figure>,
) {
    let timed_run = run_ceremonies(tcti, Some(n), None);
    let counted_run = match counter {
        Some(c) => run_ceremonies(&c.tcti(), None, Some(c)),
        None => Vec::new(),
    };
    for (i, (name, floor, time, _)) in timed_run.into_iter().enumerate() {
        out.push(Figure {
            name,
            time: time.unwrap(),
            floor,
            commands: counted_run.get(i).and_then(|c| c.3),
        });
    }
}

/// Each ceremony: its median over `n` runs, or (`n` None) its TPM commands in one run.
fn run_ceremonies(
    tcti: &tpm_passkey_tpm::TctiChoice,
    n: Option<usize>,
    counter: Option<&CommandCounter>,
) -> Vec<(&'static str, &'static str, Option<Duration>, Option<u32>)>
where
{
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(tcti, Some(dir.path()));
    let up_id = credential_id(&ok(
        &mut e,
        &make_credential("up.example", b"u", false, false, None),
    ));
    e.keys_mut().set_pin(&PinHash::from_pin(PIN)).unwrap();
    let shared = agree(&mut e);
    let token = token_using_uv(&mut e, &shared, "bench.example");
    let id = credential_id(&ok(
        &mut e,
        &make_credential("bench.example", b"b", true, false, Some(&token)),
    ));
    let mut out = Vec::new();
    let mut fig = |name: &'static str, floor: &'static str, f: &mut dyn FnMut() -> Duration| {
        match (n, counter) {
            (Some(n), _) => out.push((name, floor, Some(median(n, &mut *f)), None)),
            (None, Some(c)) => {
                f(); // warm-up, as for the times
                COUNTING.set(Some((c.clone(), 0)));
                f();
                let commands = COUNTING.take().map(|(_, n)| n);
                out.push((name, floor, None, commands));
            }
            (None, None) => {}
        }
    };
    let up_request = get_assertion("up.example", std::slice::from_ref(&up_id), false, None);
    fig("getAssertion, user presence only", "R_up", &mut || {
        timed(|| {
            ok(&mut e, &up_request);
        })
    });
    fig(
        "getPinUvAuthTokenUsingUv (built-in UV)",
        "R_pin",
        &mut || {
            let shared = agree(&mut e);
            timed(|| {
                token_using_uv(&mut e, &shared, "bench.example");
            })
        },
    );
    fig(
        "getAssertion with a pinUvAuthToken in hand",
        "R_pin",
        &mut || {
            let shared = agree(&mut e);
            let token = token_using_uv(&mut e, &shared, "bench.example");
            let request = get_assertion(
                "bench.example",
                std::slice::from_ref(&id),
                false,
                Some(&token),
            );
            timed(|| {
                ok(&mut e, &request);
            })
        },
    );
    fig("whole UV sign-in (token + assertion)", "R_pin", &mut || {
        let shared = agree(&mut e);
        timed(|| {
            let token = token_using_uv(&mut e, &shared, "bench.example");
            ok(
                &mut e,
                &get_assertion(
                    "bench.example",
                    std::slice::from_ref(&id),
                    false,
                    Some(&token),
                ),
            );
        })
    });
    fig(
        "getAssertion with built-in UV (uv option, no token)",
        "R_pin",
        &mut || {
            let request = get_assertion("bench.example", std::slice::from_ref(&id), true, None);
            timed(|| {
                ok(&mut e, &request);
            })
        },
    );
    let mut user = 0u32;
    fig(
        "makeCredential with a token (discoverable, sealed)",
        "R_pin",
        &mut || {
            // The last registration's counter step, as the daemon takes it once idle.
            e.do_idle_work();
            let shared = agree(&mut e);
            let token = token_using_uv(&mut e, &shared, "bench.example");
            user += 1;
            let request = make_credential(
                "bench.example",
                &user.to_be_bytes(),
                true,
                false,
                Some(&token),
            );
            timed(|| {
                ok(&mut e, &request);
            })
        },
    );
    fig(
        "the seal's counter step, once idle after a registration",
        "R_pin",
        &mut || {
            e.do_idle_work();
            let shared = agree(&mut e);
            let token = token_using_uv(&mut e, &shared, "bench.example");
            user += 1;
            ok(
                &mut e,
                &make_credential(
                    "bench.example",
                    &user.to_be_bytes(),
                    true,
                    false,
                    Some(&token),
                ),
            );
            timed(|| {
                e.do_idle_work();
            })
        },
    );
    out
}

/// Sign-in and management with `total` discoverable passkeys over up to 1,000 sites.
fn at_store_size(
    tcti: &tpm_passkey_tpm::TctiChoice,
    n: usize,
    size: u64,
    out: &mut Vec<Figure>,
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(tcti, Some(dir.path()));
    let id = credential_id(&ok(
        &mut e,
        &make_credential("bench.example", b"b", true, false, None),
    ));
    let model = e.store().credential(&id).unwrap().unwrap();
    let seeded: Vec<_> = (1..size)
        .map(|i| {
            let mut c = model.clone();
            c.id = Sha256::digest(i.to_be_bytes()).to_vec();
            c.rp_id = format!("site{}.example", i % 1000);
            c.user_id = i.to_be_bytes().to_vec();
            c
        })
        .collect();
    let seed_time = timed(|| e.import_credentials(&seeded).unwrap());
    e.keys_mut().set_pin(&PinHash::from_pin(PIN)).unwrap();
    let suffix = if size > 100 { "10,000" } else { "10" };
    let discoverable = get_assertion("bench.example", &[], false, None);
    let allow = get_assertion("bench.example", std::slice::from_ref(&id), false, None);
    let name = |what: &str| -> &'static str {
        Box::leak(format!("{what}, {suffix} passkeys").into_boxed_str())
    };
    out.push(Figure {
        name: name("getAssertion, empty allowList"),
        time: median(n, || {
            timed(|| {
                ok(&mut e, &discoverable);
            })
        }),
        floor: "R_up",
        commands: None,
    });
    out.push(Figure {
        name: name("getAssertion with an allowList"),
        time: median(n, || {
            timed(|| {
                ok(&mut e, &allow);
            })
        }),
        floor: "R_up",
        commands: None,
    });
    let shared = agree(&mut e);
    let token = token_with(&mut e, &shared, 0x04, None);
    let rps = (size - 1).min(1000) + 1;
    let hash = Value::Bytes(Sha256::digest(b"site7.example").to_vec());
    out.push(Figure {
        name: name("credential management: every site"),
        time: median(n.min(20), || {
            let begin = cred_mgmt(&token, 0x02, None);
            timed(|| {
                let first = ok(&mut e, &begin);
                assert_eq!(int_field(&first, 5), rps);
                for _ in 1..rps {
                    ok(&mut e, &cred_mgmt_next(0x03));
                }
            })
        }),
        floor: "R_up",
        commands: None,
    });
    out.push(Figure {
        name: name("credential management: one site's passkeys"),
        time: median(n, || {
            let begin = cred_mgmt(&token, 0x04, Some(map(vec![(1.into(), hash.clone())])));
            timed(|| {
                let first = ok(&mut e, &begin);
                for _ in 1..int_field(&first, 9) {
                    ok(&mut e, &cred_mgmt_next(0x05));
                }
            })
        }),
        floor: "R_up",
        commands: None,
    });
    seed_time
}

/// `--tcti STRING`, if given.
fn tcti_arg() -> Option<tpm_passkey_tpm::TctiChoice> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--tcti" {
            let conf = args.next().expect("--tcti STRING");
            return Some(
                tpm_passkey_tpm::TctiChoice::parse(&conf, tpm_passkey_tpm::TctiSource::Explicit)
                    .unwrap(),
            );
        }
    }
    None
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The floors (the faster of a run before and one after the figures) and the figures, each
/// with its ratios.
fn print_figures(before: Floors, after: Floors, figures: &[Figure]) {
    let floors = Floors::print(before, after);
    for f in figures {
        let commands = f
            .commands
            .map(|c| format!(", {c} TPM commands"))
            .unwrap_or_default();
        println!(
            "{:<58} {:>8.3}   {}{commands}",
            f.name,
            ms(f.time),
            floors.ratio(f.time, f.floor)
        );
    }
}

fn main() {
    let n = tpm_passkey_testkit::iterations_arg(100);
    if let Some(tcti) = tcti_arg() {
        let before = raw_floors(&tcti, n, &|f| timed(f));
        let mut figures = Vec::new();
        ceremonies(&tcti, None, n, &mut figures);
        let after = raw_floors(&tcti, n, &|f| timed(f));
        println!(
            "tpm-passkey performance on {} ({}), median of {n} (ms)",
            tcti.as_str(),
            tcti.path().explain()
        );
        print_figures(before, after, &figures);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start_private(&dir.path().join("private")).unwrap();
    let tcti = swtpm.tcti();
    let counter = CommandCounter::of(&swtpm).unwrap();

    let before = raw_floors(&tcti, n, &|f| timed(f));
    let mut figures = Vec::new();
    ceremonies(&tcti, Some(&counter), n, &mut figures);
    at_store_size(&tcti, n, 10, &mut figures);
    let seed = at_store_size(&tcti, n, 10_000, &mut figures);
    let after = raw_floors(&tcti, n, &|f| timed(f));
    println!(
        "tpm-passkey performance on the private simulator ({}), median of {n} (ms)",
        tcti.path().explain()
    );
    print_figures(before, after, &figures);
    let pair = |a: &str| {
        let t = |s: &str| {
            figures
                .iter()
                .find(|f| f.name == format!("{a}, {s} passkeys"))
                .unwrap()
                .time
        };
        ms(t("10,000")) / ms(t("10"))
    };
    println!("store size, 10,000 vs 10 passkeys:");
    for a in [
        "getAssertion, empty allowList",
        "getAssertion with an allowList",
        "credential management: every site",
        "credential management: one site's passkeys",
    ] {
        println!("  {a:<56} {:.2} x", pair(a));
    }
    println!(
        "seeding 9,999 passkeys in one transaction: {:.0} ms",
        ms(seed)
    );
    drop(swtpm);

    // The same ceremonies where other programs can reach the TPM (swtpm over TCP: tests,
    // --tcti swtpm:): no satisfied PIN session waits there, each signature proves the PIN.
    let shared = Swtpm::start(&dir.path().join("shared")).unwrap();
    let counter = CommandCounter::start(shared.port()).unwrap();
    let before = raw_floors(&shared.tcti(), n, &|f| timed(f));
    let mut figures = Vec::new();
    ceremonies(&shared.tcti(), Some(&counter), n, &mut figures);
    let after = raw_floors(&shared.tcti(), n, &|f| timed(f));
    println!(
        "the same on a swtpm over TCP ({}), median of {n} (ms)",
        shared.tcti().path().explain()
    );
    print_figures(before, after, &figures);
}
