//! Shared by the single-node benchmarks: a release `openfero` on a free loopback port with a
//! fresh data dir, killed and reaped by PID when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Node {
    child: Child,
    pub base: String,
}

impl Node {
    /// Starts `openfero` with operarios from `operarios` (a folder), data in `data` and room
    /// for `retention` alerts.
    pub fn start(operarios: &Path, data: &Path, retention: u64) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_openfero"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
            .arg("--data-dir")
            .arg(data)
            .arg("--operarios")
            .arg(operarios)
            .args(["--retention-alerts", &retention.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openfero");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Resident set size of the node process, from `/proc` (0 if unreadable).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
