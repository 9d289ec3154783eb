//! The page templates, parsed once. HTML is auto-escaped (minijinja escapes `.html` templates).

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use crate::http::ApiError;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    (
        "remediation.html",
        include_str!("templates/remediation.html"),
    ),
    ("operarios.html", include_str!("templates/operarios.html")),
    ("cluster.html", include_str!("templates/cluster.html")),
    ("try.html", include_str!("templates/try.html")),
    ("try_form.html", include_str!("templates/try_form.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the embedded templates parse (tested)");
        }
        env
    })
}

/// Render `name` with `ctx`.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ApiError::Internal(format!("rendering `{name}`: {e:#}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        for (name, _) in super::TEMPLATES {
            assert!(super::env().get_template(name).is_ok(), "{name}");
        }
    }
}
