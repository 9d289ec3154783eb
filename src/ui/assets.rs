//! The UI's own JS and CSS, embedded.

use axum::http::header;
use axum::response::IntoResponse;

const CACHE: &str = "no-cache";

pub async fn app_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("assets/app.css"),
    )
}

pub async fn app_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("assets/app.js"),
    )
}

#[cfg(test)]
mod tests {
    use crate::operarios::Mode;
    use crate::remediation::RemediationState;

    /// The classes `app.css` gives a badge tone to (`:is(.badge, .state):is(.a, .b) { … }`).
    fn toned() -> Vec<&'static str> {
        include_str!("assets/app.css")
            .lines()
            .filter_map(|l| l.strip_prefix(":is(.badge, .state):is("))
            .filter_map(|l| l.split_once(')').map(|(classes, _)| classes))
            .flat_map(|classes| classes.split(", "))
            .filter_map(|c| c.strip_prefix('.'))
            .collect()
    }

    #[test]
    fn every_status_a_badge_can_show_has_a_colour() {
        let toned = toned();
        let modes = [Mode::DryRun, Mode::Shadow].map(Mode::as_str);
        let states = RemediationState::ALL.map(RemediationState::as_str);
        let badges = [
            "firing",
            "resolved",
            "enabled",
            "disabled",
            "paused",
            "broken",
            "approval",
            "breaker-open",
        ];
        for class in states.iter().chain(&modes).chain(&badges) {
            assert!(toned.contains(class), "`.{class}` has no tone in app.css");
        }
    }
}
