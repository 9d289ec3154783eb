//! `GET /api/events`: Server-Sent Events telling the UI that the applied state changed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::AppState;

/// One `applied` event (data: the applied log index) whenever this node applies new entries,
/// and one at once so a client knows where it starts. A comment every 15 s keeps proxies open.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "history",
    responses((
        status = 200,
        description = "`applied` events carrying the applied log index",
        body = String,
        content_type = "text/event-stream"
    ))
)]
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.replica.raft().metrics();
    let stream = futures::stream::unfold((rx, None), |(mut rx, last)| async move {
        loop {
            let applied = rx.borrow_and_update().last_applied.map(|l| l.index);
            if last != Some(applied) {
                let event = Event::default()
                    .event("applied")
                    .data(applied.unwrap_or(0).to_string());
                return Some((Ok(event), (rx, Some(applied))));
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
