//! Watch streams: newline-delimited JSON events over a chunked response.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{header, StatusCode},
    response::Response,
};
use serde_json::{json, Value};
use tokio::{
    sync::{broadcast::error::RecvError, mpsc},
    time::Instant,
};

use crate::{
    shared::{lock, Shared},
    status::ApiError,
    store::{key_of, Change, ChangeKind},
    verbs::{ListQuery, Target},
};

/// A parsed watch request.
#[derive(Clone, Debug)]
pub struct WatchParams {
    pub target: Target,
    pub query: ListQuery,
    /// `None` (or 0): start with synthetic ADDED events for the current objects.
    pub resource_version: Option<u64>,
    pub timeout: Option<Duration>,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: synthetic ADDED events, then a BOOKMARK marking their end.
    pub send_initial_events: bool,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn matches(p: &WatchParams, object: &Value) -> bool {
    let in_namespace = p
        .target
        .ns
        .as_deref()
        .is_none_or(|ns| key_of(object).0 == ns);
    in_namespace && p.query.labels.matches(object) && p.query.fields.matches(object)
}

/// The event a watcher with these selectors sees for a change, if any: objects moving into
/// the selection are ADDED, moving out are DELETED.
fn render(p: &WatchParams, change: &Change) -> Option<Bytes> {
    if change.resource != p.target.rt.id() {
        return None;
    }
    let now = matches(p, &change.object);
    let before = change.old.as_ref().is_some_and(|o| matches(p, o));
    let kind = match change.kind {
        ChangeKind::Added if now => "ADDED",
        ChangeKind::Deleted if now || before => "DELETED",
        ChangeKind::Modified => match (before, now) {
            (true, true) => "MODIFIED",
            (false, true) => "ADDED",
            (true, false) => "DELETED",
            (false, false) => return None,
        },
        _ => return None,
    };
    Some(line(kind, p.target.present(change.object.clone())))
}

fn bookmark(p: &WatchParams, rv: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        json!({
            "kind": p.target.rt.kind,
            "apiVersion": p.target.rt.api_version(&p.target.version),
            "metadata": metadata,
        }),
    )
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts a watch: replays or synthesises the start, then streams live changes until the
/// client goes away, `timeoutSeconds` passes, watches are dropped or the double shuts down.
pub fn start(shared: &Shared, p: WatchParams) -> Response {
    let (initial, mut changes, mut cursor, expired) = {
        let store = lock(&shared.store);
        let mut initial = Vec::new();
        let mut expired = false;
        let current = store.current_rv();
        match p.resource_version.filter(|rv| *rv > 0) {
            Some(rv) if rv < store.compacted_rv() => {
                let error = ApiError::expired(format!(
                    "too old resource version: {rv} ({})",
                    store.compacted_rv()
                ));
                initial.push(line("ERROR", error.body()));
                expired = true;
            }
            Some(rv) if !p.send_initial_events => {
                initial.extend(store.history_after(rv).iter().filter_map(|c| render(&p, c)));
            }
            _ => {
                for object in store.objects(&p.target.rt.id(), p.target.ns.as_deref()) {
                    if matches(&p, object) {
                        initial.push(line("ADDED", p.target.present(object.clone())));
                    }
                }
                if p.send_initial_events {
                    initial.push(bookmark(&p, current, true));
                }
            }
        }
        (initial, store.subscribe(), current, expired)
    };
    let cancel = shared.watch_token();
    let shutdown = shared.shutdown.clone();
    let interval = shared.config.bookmark_interval;
    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        for l in initial {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = p.timeout.map(|t| Instant::now() + t);
        let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
                _ = until(deadline) => break,
                _ = ticker.tick(), if p.bookmarks => bookmark(&p, cursor, false),
                received = changes.recv() => match received {
                    Ok(change) => {
                        if change.rv <= cursor {
                            continue;
                        }
                        cursor = change.rv;
                        match render(&p, &change) {
                            Some(l) => l,
                            None => continue,
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let error = ApiError::expired("watch fell behind: too old resource version");
                        let _ = tx.send(line("ERROR", error.body())).await;
                        break;
                    }
                    Err(RecvError::Closed) => break,
                },
            };
            if tx.send(next).await.is_err() {
                break;
            }
        }
    });
    let stream =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok::<_, Infallible>)));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
