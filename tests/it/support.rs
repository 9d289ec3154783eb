//! Test support: openfero processes with drop guards, free ports, polling helpers.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Poll `check` until it yields a value or `timeout` passes; each attempt is a real condition,
/// the pause between attempts only spaces them out.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, on success and on failure.
pub struct ChildGuard {
    pub child: Option<Child>,
    pub name: String,
    pub log: PathBuf,
}

impl ChildGuard {
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Self {
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child: Some(child),
            name: name.to_string(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_string()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last log lines of {} ---\n{}",
                self.name,
                self.log_tail()
            );
        }
        self.kill();
    }
}

/// An `openfero serve` process on a loopback port.
pub struct OpenferoProcess {
    pub guard: ChildGuard,
    pub port: u16,
    /// `https` when started with `--tls-cert-file`.
    pub scheme: &'static str,
    pub data_dir: PathBuf,
    pub operarios: PathBuf,
}

impl OpenferoProcess {
    pub fn start(data_dir: &Path, operarios: &Path, port: u16, extra: &[&str]) -> Self {
        Self::start_logging(data_dir, operarios, port, extra, "info,openfero=debug")
    }

    /// [`OpenferoProcess::start`] with the log filter `log` (`OPENFERO_LOG`).
    pub fn start_logging(
        data_dir: &Path,
        operarios: &Path,
        port: u16,
        extra: &[&str],
        log: &str,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openfero"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--operarios")
            .arg(operarios)
            .args(extra)
            .env("OPENFERO_LOG", log);
        let log = data_dir.with_extension(format!("{port}.log"));
        let scheme = if extra.contains(&"--tls-cert-file") {
            "https"
        } else {
            "http"
        };
        Self {
            guard: ChildGuard::spawn("openfero", cmd, log),
            port,
            scheme,
            data_dir: data_dir.to_path_buf(),
            operarios: operarios.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme, self.port, path)
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let url = self.url("/readyz");
        eventually("openfero to be ready", Duration::from_secs(30), || {
            let c = client.clone();
            let url = url.clone();
            async move {
                let r = c.get(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
    }
}

pub fn client() -> reqwest::Client {
    // reqwest's rustls backend is compiled in (peer TLS): every client needs the provider.
    openfero_raft::tls::install_default_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A client for `https://` URLs whose certificate chains to the CA in `ca_file` (only).
pub fn client_trusting(ca_file: &Path) -> reqwest::Client {
    openfero_raft::tls::install_default_provider();
    let ca = std::fs::read(ca_file).expect("read ca");
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .build()
        .expect("https client")
}

/// A one-alert Alertmanager webhook body.
pub fn webhook(alertname: &str, pod: &str, status: &str, starts_at: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "openfero",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname, "pod": pod},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "pod": pod, "namespace": "shop"},
            "annotations": {"summary": "test"},
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph",
            "fingerprint": ""
        }]
    })
}

/// Writes marker operarios (name, alertname, status) into `dir/operarios`, all appending to
/// `dir/runs.txt`; returns the operarios folder and the marker file.
pub fn marker_operarios(dir: &Path, ops: &[(&str, &str, &str)]) -> (PathBuf, PathBuf) {
    let folder = dir.join("operarios");
    std::fs::create_dir_all(&folder).expect("mkdir operarios");
    let marker = dir.join("runs.txt");
    for (name, alertname, status) in ops {
        std::fs::write(
            folder.join(format!("{name}.yaml")),
            marker_operarius(name, alertname, status, &marker),
        )
        .expect("write operarius");
    }
    (folder, marker)
}

/// An operarius that appends the pod label to `marker` each time it runs.
pub fn marker_operarius(name: &str, alertname: &str, status: &str, marker: &Path) -> String {
    format!(
        r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata:
  name: {name}
  namespace: default
spec:
  alertSelector:
    alertname: {alertname}
    status: {status}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["echo remediating $OPENFERO_POD; echo {{{{ .Labels.pod }}}} >> {marker}"]
"#,
        marker = marker.display()
    )
}

/// `GET url` as JSON; panics (with the url) on a transport or decoding error.
/// `GET url` as text; panics on a transport error.
pub async fn text(http: &reqwest::Client, url: &str) -> String {
    let r = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    r.text().await.expect("text")
}

pub async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not the JSON expected: {e}"))
}
