//! Who is talking to our hidraw node: the kernel does not tell a uhid device which process
//! wrote a report, so we look for the processes holding /dev/hidrawN open (as `fuser`
//! does) and name the requester when exactly one other process holds it.
//!
//! Only processes of our own user are visible this way (`/proc/PID/fd` needs ptrace-read
//! access), which is the case that matters: a browser or ssh run by the same user.

use std::path::{Path, PathBuf};

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
}
