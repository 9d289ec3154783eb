//! Where the recorded history comes from, oldest first: a running node's export
//! (`--server`), a JSON-lines file of it (`--file`), or a stopped node's data dir
//! (`--data-dir`). Each line goes through [`ReadLine`], so the three read the same.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use openfero_raft::Store;

use super::args::ReplayArgs;
use super::error::ReplayError;
use super::line::{HistoryLine, ReadLine, Recorded};
use crate::client::Api;
use crate::remediation::History;

/// Alerts read from a data dir at a time.
const CHUNK: usize = 500;

pub(super) struct Source {
    kind: Kind,
    /// For messages: the URL, file or folder.
    pub name: String,
    /// Lines read so far (1-based numbers for errors and default `seq`s).
    line: u64,
    /// Bytes read so far (a file's progress).
    pub bytes: u64,
}

enum Kind {
    Server {
        api: Api,
        resp: reqwest::Response,
        buf: Vec<u8>,
        done: bool,
    },
    File {
        reader: Box<dyn BufRead>,
        text: String,
    },
    DataDir {
        history: History,
        _store: Store,
        after: u64,
        since: Option<i64>,
        ready: VecDeque<String>,
        done: bool,
    },
}

/// How far a source can tell its progress: alerts or bytes in all, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extent {
    Alerts(u64),
    Bytes(u64),
    Unknown,
}

impl Source {
    pub async fn open(args: &ReplayArgs) -> Result<(Source, Extent), ReplayError> {
        if let Some(server) = &args.server {
            let api = Api::new(&args.client(server))?;
            let mut query = Vec::new();
            if let Some(t) = args.since {
                query.push(("since", crate::time::format_ms(t)));
            }
            if let Some(t) = args.until {
                query.push(("until", crate::time::format_ms(t)));
            }
            let resp = api.get_stream("/api/alerts/export", &query).await?;
            let source = Source::new(
                Kind::Server {
                    api,
                    resp,
                    buf: Vec::new(),
                    done: false,
                },
                format!("{}/api/alerts/export", server.trim_end_matches('/')),
            );
            return Ok((source, Extent::Unknown));
        }
        if let Some(file) = &args.file {
            return Self::open_file(file);
        }
        if let Some(dir) = &args.data_dir {
            return Self::open_data_dir(dir, args.since);
        }
        Err(ReplayError::Usage(
            "give one of --server, --file or --data-dir".into(),
        ))
    }

    fn new(kind: Kind, name: String) -> Self {
        Self {
            kind,
            name,
            line: 0,
            bytes: 0,
        }
    }

    fn open_file(file: &Path) -> Result<(Source, Extent), ReplayError> {
        if file == Path::new("-") {
            let reader = Box::new(std::io::BufReader::new(std::io::stdin()));
            return Ok((
                file_source(reader, "standard input".into()),
                Extent::Unknown,
            ));
        }
        let name = file.display().to_string();
        let open = std::fs::File::open(file).map_err(|e| ReplayError::Read {
            source_name: name.clone(),
            reason: e.to_string(),
        })?;
        let size = open.metadata().map(|m| m.len()).unwrap_or(0);
        let reader = Box::new(std::io::BufReader::with_capacity(1 << 16, open));
        Ok((file_source(reader, name), Extent::Bytes(size)))
    }

    fn open_data_dir(dir: &Path, since: Option<i64>) -> Result<(Source, Extent), ReplayError> {
        let name = dir.display().to_string();
        // sled would create an empty store where there is none.
        if !dir.join("conf").exists() && !dir.join("db").exists() {
            return Err(ReplayError::Usage(format!(
                "--data-dir `{name}` holds no openfero store"
            )));
        }
        let store = Store::open(dir).map_err(|e| locked_or(dir, e.to_string()))?;
        let reader = store.reader().map_err(|e| locked_or(dir, e.to_string()))?;
        let history = History::new(reader);
        let total = history.live_alerts().map_err(|e| ReplayError::Read {
            source_name: name.clone(),
            reason: e.to_string(),
        })?;
        let kind = Kind::DataDir {
            history,
            _store: store,
            after: 0,
            since,
            ready: VecDeque::new(),
            done: false,
        };
        Ok((Source::new(kind, name), Extent::Alerts(total)))
    }

    /// The next recorded alert, oldest first; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Recorded>, ReplayError> {
        loop {
            let Some(text) = self.next_text().await? else {
                return Ok(None);
            };
            self.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            return ReadLine::parse(&text, self.line)
                .map(Some)
                .map_err(|reason| ReplayError::Line {
                    source_name: self.name.clone(),
                    line: self.line,
                    reason,
                });
        }
    }

    async fn next_text(&mut self) -> Result<Option<String>, ReplayError> {
        let name = &self.name;
        let read_err = |reason: String| ReplayError::Read {
            source_name: name.clone(),
            reason,
        };
        match &mut self.kind {
            Kind::Server {
                api,
                resp,
                buf,
                done,
            } => loop {
                if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=end).collect();
                    self.bytes += line.len() as u64;
                    return utf8(line).map(Some).map_err(read_err);
                }
                if *done {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let line = std::mem::take(buf);
                    self.bytes += line.len() as u64;
                    return utf8(line).map(Some).map_err(read_err);
                }
                match resp.chunk().await.map_err(|e| api.broken_answer(e))? {
                    Some(chunk) => buf.extend_from_slice(&chunk),
                    None => *done = true,
                }
            },
            Kind::File { reader, text } => {
                text.clear();
                let n = reader
                    .read_line(text)
                    .map_err(|e| read_err(e.to_string()))?;
                self.bytes += n as u64;
                Ok((n > 0).then(|| std::mem::take(text)))
            }
            Kind::DataDir {
                history,
                after,
                since,
                ready,
                done,
                ..
            } => {
                if ready.is_empty() && !*done {
                    let alerts = history
                        .alerts_after(*after, *since, CHUNK)
                        .map_err(|e| read_err(e.to_string()))?;
                    *done = alerts.len() < CHUNK;
                    for a in &alerts {
                        let mut rems = Vec::with_capacity(a.remediations.len());
                        for id in &a.remediations {
                            if let Some(r) = history
                                .remediation(id)
                                .map_err(|e| read_err(e.to_string()))?
                            {
                                rems.push(r);
                            }
                        }
                        let line = HistoryLine::from_records(a, &rems);
                        ready.push_back(
                            serde_json::to_string(&line).map_err(|e| read_err(e.to_string()))?,
                        );
                        *after = a.seq;
                    }
                }
                Ok(ready.pop_front())
            }
        }
    }
}

fn file_source(reader: Box<dyn BufRead>, name: String) -> Source {
    Source::new(
        Kind::File {
            reader,
            text: String::new(),
        },
        name,
    )
}

fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "a line is not UTF-8".to_owned())
}

/// sled's error when the folder is locked by another process, as [`ReplayError::Locked`].
fn locked_or(dir: &Path, message: String) -> ReplayError {
    if message.contains("could not acquire lock") {
        ReplayError::Locked(PathBuf::from(dir))
    } else {
        ReplayError::Read {
            source_name: dir.display().to_string(),
            reason: message,
        }
    }
}
