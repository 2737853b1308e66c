//! Who is talking to our hidraw node: the kernel does not tell a uhid device which process
//! wrote a report, so we look for the processes holding /dev/hidrawN open (as `fuser`
//! does) and name the requester when exactly one other process holds it.
//!
//! Only processes of our own user are visible this way (`/proc/PID/fd` needs ptrace-read
//! access), which is the case that matters: a browser or ssh run by the same user.
//!
//! A scan reads the link of every open file of every such process: on a desktop (a browser's
//! dozens of processes, an editor, chat) that is tens of thousands of links — 75 ms for
//! 20,000 here — and it was done for every CTAP message, several per sign-in. The set of
//! holders only changes when somebody opens or closes the node, which inotify reports, so
//! [`HolderCache`] scans again only after such an event (docs/DESIGN.md "The uhid
//! transport", "Who asks").

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::inotify;

/// The /dev node of the hidraw device whose HID_UNIQ is `uniq`, once the kernel made it.
pub fn hidraw_node(uniq: &str) -> Option<PathBuf> {
    hidraw_node_in(Path::new("/sys/class/hidraw"), uniq)
}

fn hidraw_node_in(class: &Path, uniq: &str) -> Option<PathBuf> {
    let want = format!("HID_UNIQ={uniq}");
    std::fs::read_dir(class).ok()?.flatten().find_map(|entry| {
        let uevent = std::fs::read_to_string(entry.path().join("device/uevent")).ok()?;
        uevent
            .lines()
            .any(|l| l == want)
            .then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// The pids (other than ours) with an open file descriptor on `node`, sorted, no repeats.
pub fn holders(node: &Path) -> Vec<u32> {
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && holds(pid, node))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn holds(pid: u32, node: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == node))
}

/// The one process holding `node` open, if there is exactly one; with several (a browser
/// and ssh at once) we cannot tell which one sent the message, and say nothing.
pub fn sole_holder(node: &Path) -> Option<u32> {
    match holders(node).as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// The sole holder of one node, scanned for again only when the node was opened or closed
/// since the last scan.
///
/// What inotify does not see: a holder that forks (its child inherits the open file) or
/// hands its descriptor to another process. The holder it names is then the process that
/// opened the node and gave it away — never a process that opened it itself unseen. Without
/// a watch (the node unreadable to us, inotify unavailable) every call scans.
#[derive(Debug)]
pub struct HolderCache {
    node: PathBuf,
    watch: Option<OwnedFd>,
    last: Option<Option<u32>>,
    scans: u64,
}

impl HolderCache {
    pub fn new(node: PathBuf) -> Self {
        let watch = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .and_then(|fd| {
                inotify::add_watch(
                    &fd,
                    &node,
                    inotify::WatchFlags::OPEN
                        | inotify::WatchFlags::CLOSE
                        | inotify::WatchFlags::DELETE_SELF
                        | inotify::WatchFlags::MOVE_SELF,
                )?;
                Ok(fd)
            });
        let watch = match watch {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::debug!(node = %node.display(), error = %e, "no inotify watch on the node: every message scans /proc");
                None
            }
        };
        HolderCache {
            node,
            watch,
            last: None,
            scans: 0,
        }
    }

    /// [`sole_holder`] of the node, from the last scan when nobody opened or closed it since.
    pub fn sole_holder(&mut self) -> Option<u32> {
        // Events first, then the scan: an open during the scan stays queued for the next call.
        if self.changed() || self.last.is_none() {
            self.scans += 1;
            self.last = Some(sole_holder(&self.node));
        }
        self.last.flatten()
    }

    /// Whether the node was opened or closed since the last call (true without a watch, and
    /// for good once the watch is gone: the node was removed or the queue overflowed).
    fn changed(&mut self) -> bool {
        let Some(fd) = &self.watch else {
            return true;
        };
        let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
        let mut reader = inotify::Reader::new(fd, &mut buf);
        let mut changed = false;
        let mut lost = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    changed = true;
                    let flags = event.events();
                    if flags.intersects(
                        inotify::ReadFlags::IGNORED
                            | inotify::ReadFlags::QUEUE_OVERFLOW
                            | inotify::ReadFlags::DELETE_SELF
                            | inotify::ReadFlags::MOVE_SELF,
                    ) {
                        lost = true;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            self.watch = None;
            return true;
        }
        changed
    }

    /// Scans of /proc so far.
    pub fn scans(&self) -> u64 {
        self.scans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_holding_a_file_and_not_ourselves() {
        let dir = std::env::temp_dir().join(format!("holders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("node");
        std::fs::write(&file, b"").expect("file");
        let _ours = std::fs::File::open(&file).expect("open");
        assert_eq!(
            holders(&file),
            Vec::<u32>::new(),
            "our own fds do not count"
        );
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&file).expect("open"))
            .spawn()
            .expect("sleep");
        let found = sole_holder(&file);
        child.kill().expect("kill");
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found, Some(child.id()));
    }

    #[test]
    fn finds_the_node_by_uniq() {
        let class = std::env::temp_dir().join(format!("hidraw-class-{}", std::process::id()));
        for (name, uniq) in [("hidraw0", "other"), ("hidraw3", "tpm-passkey-42")] {
            std::fs::create_dir_all(class.join(name).join("device")).expect("dir");
            std::fs::write(
                class.join(name).join("device/uevent"),
                format!("DRIVER=hid-generic\nHID_NAME=x\nHID_UNIQ={uniq}\n"),
            )
            .expect("uevent");
        }
        let found = hidraw_node_in(&class, "tpm-passkey-42");
        let none = hidraw_node_in(&class, "tpm-passkey-4");
        let _ = std::fs::remove_dir_all(&class);
        assert_eq!(found, Some(PathBuf::from("/dev/hidraw3")));
        assert_eq!(none, None);
    }

    /// Asking again costs no scan while nobody opens or closes the node; an open or a close
    /// is seen at the next message (a count, not a timing).
    #[test]
    fn the_cache_scans_again_only_after_an_open_or_a_close() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("node");
        std::fs::write(&file, b"").expect("file");
        let mut cache = HolderCache::new(file.clone());
        assert!(cache.watch.is_some(), "inotify works on a regular file");
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .stdin(std::fs::File::open(&file).expect("open"))
                .spawn()
                .expect("sleep")
        };
        let mut first = spawn();
        for _ in 0..5 {
            assert_eq!(cache.sole_holder(), Some(first.id()));
        }
        assert_eq!(cache.scans(), 1, "five messages, one scan");
        // A second process opens the node: nobody can be named.
        let mut second = spawn();
        assert_eq!(cache.sole_holder(), None);
        assert_eq!(cache.scans(), 2);
        assert_eq!(cache.sole_holder(), None);
        assert_eq!(cache.scans(), 2);
        // The first one goes (its close is an event): the second is named.
        first.kill().expect("kill");
        let _ = first.wait();
        assert_eq!(cache.sole_holder(), Some(second.id()));
        assert_eq!(cache.scans(), 3);
        second.kill().expect("kill");
        let _ = second.wait();
        assert_eq!(cache.sole_holder(), None);
        // The node removed: the watch is gone and every call scans again.
        std::fs::remove_file(&file).expect("rm");
        cache.sole_holder();
        let before = cache.scans();
        cache.sole_holder();
        assert_eq!(cache.scans(), before + 1);
    }
}
