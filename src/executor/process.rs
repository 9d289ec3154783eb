//! Runs one remediation as a local process: the first container's `command` + `args`, its env,
//! a deadline, and the tail of the combined output.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

pub use crate::remediation::OUTPUT_TAIL_BYTES;
/// How long to keep reading output after the process exited (grandchildren may hold the pipes).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEnd {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Cancelled,
    SpawnFailed(String),
}

#[derive(Debug, Clone)]
pub struct ProcessResult {
    pub end: ProcessEnd,
    pub output_tail: String,
}

/// The last `cap` bytes written to it.
struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::with_capacity(cap.min(8192)),
            cap,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let bytes = if bytes.len() > self.cap {
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(bytes);
    }

    fn into_string(self) -> String {
        let bytes: Vec<u8> = self.buf.into_iter().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Kubernetes semantics without an image: `command` replaces the entrypoint and `args` follow it;
/// with no `command`, `args` is the whole command line.
fn argv(spec: &ProcessSpec) -> Option<(String, Vec<String>)> {
    let mut all: Vec<String> = spec
        .command
        .iter()
        .chain(spec.args.iter())
        .cloned()
        .collect();
    if all.is_empty() {
        return None;
    }
    let program = all.remove(0);
    Some((program, all))
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // The child leads its own process group, so this also reaches what it started.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Run the process to completion, deadline or cancellation.
pub async fn run_process(spec: &ProcessSpec, cancel: &CancellationToken) -> ProcessResult {
    let Some((program, args)) = argv(spec) else {
        return ProcessResult {
            end: ProcessEnd::SpawnFailed(
                "the job template's first container has no command or args".into(),
            ),
            output_tail: String::new(),
        };
    };
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ProcessResult {
                end: ProcessEnd::SpawnFailed(format!("cannot start `{program}`: {e}")),
                output_tail: String::new(),
            }
        }
    };
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut tail = Tail::new(OUTPUT_TAIL_BYTES);
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    let (mut out_open, mut err_open) = (true, true);
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut end: Option<ProcessEnd> = None;

    while end.is_none() && (out_open || err_open || exit.is_none()) {
        let drain_deadline = drain_until.unwrap_or(deadline);
        tokio::select! {
            r = stdout.read(&mut out_buf), if out_open => match r {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => tail.push(&out_buf[..n]),
            },
            r = stderr.read(&mut err_buf), if err_open => match r {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => tail.push(&err_buf[..n]),
            },
            status = child.wait(), if exit.is_none() => match status {
                Ok(s) => {
                    exit = Some(s);
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
                }
                Err(e) => end = Some(ProcessEnd::SpawnFailed(format!("wait: {e}"))),
            },
            _ = tokio::time::sleep_until(drain_deadline) => {
                if exit.is_some() {
                    // Exited, but something it started still holds the pipes.
                    kill_group(pid);
                    break;
                }
                kill_group(pid);
                end = Some(ProcessEnd::TimedOut);
            }
            _ = cancel.cancelled() => {
                kill_group(pid);
                end = Some(ProcessEnd::Cancelled);
            }
        }
    }
    if end.is_some() {
        let _ = child.wait().await;
    }
    let end = end.unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        match exit {
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => ProcessEnd::Exited(code),
                (None, Some(sig)) => ProcessEnd::Signalled(sig),
                (None, None) => ProcessEnd::Exited(-1),
            },
            None => ProcessEnd::Exited(-1),
        }
    });
    ProcessResult {
        end,
        output_tail: tail.into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> ProcessSpec {
        ProcessSpec {
            command: vec!["/bin/sh".into(), "-c".into()],
            args: vec![script.into()],
            env: vec![("OPENFERO_POD".into(), "web-1".into())],
            timeout,
        }
    }

    #[tokio::test]
    async fn captures_exit_code_env_and_combined_output() {
        let spec = sh(
            "echo out $OPENFERO_POD; echo err >&2; exit 3",
            Duration::from_secs(10),
        );
        let r = run_process(&spec, &CancellationToken::new()).await;
        assert_eq!(r.end, ProcessEnd::Exited(3));
        assert!(r.output_tail.contains("out web-1"), "{}", r.output_tail);
        assert!(r.output_tail.contains("err"), "{}", r.output_tail);
    }

    #[tokio::test]
    async fn deadline_kills_the_whole_process_group() {
        let spec = sh("sleep 30 & echo started; wait", Duration::from_millis(300));
        let r = run_process(&spec, &CancellationToken::new()).await;
        assert_eq!(r.end, ProcessEnd::TimedOut);
        assert!(r.output_tail.contains("started"));
    }

    #[tokio::test]
    async fn keeps_only_the_last_64_kib() {
        let spec = sh(
            "i=0; while [ $i -lt 2000 ]; do printf '%064d\\n' $i; i=$((i+1)); done; echo END",
            Duration::from_secs(20),
        );
        let r = run_process(&spec, &CancellationToken::new()).await;
        assert_eq!(r.end, ProcessEnd::Exited(0));
        assert_eq!(r.output_tail.len(), OUTPUT_TAIL_BYTES);
        assert!(r.output_tail.ends_with("END\n"));
    }

    #[tokio::test]
    async fn missing_program_and_empty_command_fail_to_spawn() {
        let mut spec = sh("", Duration::from_secs(1));
        spec.command = vec!["/nonexistent/openfero-test".into()];
        spec.args.clear();
        let r = run_process(&spec, &CancellationToken::new()).await;
        assert!(matches!(r.end, ProcessEnd::SpawnFailed(ref m) if m.contains("/nonexistent")));
        spec.command.clear();
        let r = run_process(&spec, &CancellationToken::new()).await;
        assert!(matches!(r.end, ProcessEnd::SpawnFailed(_)));
    }

    #[tokio::test]
    async fn cancellation_stops_the_process() {
        let spec = sh("sleep 30", Duration::from_secs(60));
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let handle = tokio::spawn(async move { run_process(&spec, &c2).await });
        cancel.cancel();
        let r = handle.await.expect("join");
        assert_eq!(r.end, ProcessEnd::Cancelled);
    }
}
