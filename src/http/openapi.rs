//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! views' `ToSchema` derives, and Swagger UI over it from embedded assets.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, api, export, guards, preview, webhook};

/// Where the Swagger UI assets of the `swagger-ui-dist` crate are mounted.
pub const SWAGGER_ASSETS: &str = "/swagger/dist";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "openfero",
        description = "Alertmanager webhooks to exactly-once remediations, replicated with Raft. \
            Reads are local to the node that answers; the headers `x-openfero-node`, \
            `x-openfero-leader` and `x-openfero-applied-index` say what they reflect."
    ),
    paths(
        webhook::probe,
        webhook::receive,
        api::alerts,
        export::export,
        api::remediations,
        api::remediation,
        api::operarios,
        api::operario_problems,
        preview::try_operarios,
        api::about,
        guards::guards,
        guards::pause,
        guards::reset_breaker,
        guards::approve,
        guards::deny,
        api::healthz,
        api::readyz,
        api::metrics,
        admin::cluster,
        admin::node_op,
        admin::autopilot,
        super::events::events,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "webhook", description = "Alertmanager's receiver"),
        (name = "history", description = "Recorded alerts and remediations"),
        (name = "operarios", description = "Remediation definitions"),
        (name = "cluster", description = "Membership (admin)"),
        (name = "guards", description = "Pause and loop breakers (operator)"),
        (name = "meta", description = "Health, readiness, metrics, version"),
    )
)]
pub struct ApiDoc;

/// HTTP basic (auth file users; the webhook's `--webhook-basic-auth-file`) and bearer tokens
/// (auth file tokens, `--admin-token-file`, `--webhook-token-file`). With `--auth-file` every
/// operation but the probes needs one of them (and a role); the document says so globally.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The document as JSON text, built once.
pub fn spec_json() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.to_pretty_json()
            .expect("the generated OpenAPI document serializes")
    })
}

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], spec_json()).into_response()
}

/// `GET /swagger`: the UI lives under the slash.
pub async fn swagger_redirect() -> Redirect {
    Redirect::permanent("/swagger/")
}

/// `GET /swagger/`: Swagger UI pointed at this node's document.
pub async fn swagger_index() -> Html<String> {
    Html(format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>openfero API</title>
<link rel="stylesheet" href="{SWAGGER_ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_ASSETS}/swagger-ui-bundle.js"></script>
<script>
window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{ url: "/api/openapi.json", dom_id: "#swagger-ui" }});
}});
</script>
</body>
</html>"##
    ))
}

/// The embedded Swagger UI assets (`swagger-ui-dist`: JS and CSS compiled into the binary).
pub fn swagger_assets<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: SWAGGER_ASSETS,
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/api/openapi.json"),
        title: Some("openfero API"),
    })
    .with_state(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::super::routes::{table, Access, Listed};
    use super::spec_json;

    fn spec() -> Value {
        serde_json::from_str(spec_json()).expect("the document is JSON")
    }

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths is an object") {
            for method in item.as_object().expect("path item is an object").keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_api_route_is_in_the_document_and_nothing_else_is() {
        let doc = spec();
        let documented = operations(&doc);
        let mut api_routes = BTreeSet::new();
        for r in table(1024, Access::Open) {
            let key = (r.method.to_string(), r.path.to_string());
            match r.listed {
                Listed::Spec => {
                    assert!(
                        documented.contains(&key),
                        "route {} {} is served but missing from the OpenAPI document",
                        key.0,
                        key.1
                    );
                    api_routes.insert(key);
                }
                Listed::NotApi(reason) => {
                    assert!(!reason.is_empty());
                    assert!(
                        !documented.contains(&key),
                        "route {} {} is documented but marked as not API",
                        key.0,
                        key.1
                    );
                }
            }
        }
        let extra: Vec<_> = documented.difference(&api_routes).collect();
        assert!(extra.is_empty(), "documented but not served: {extra:?}");
    }

    #[test]
    fn every_schema_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = spec();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.iter().any(|r| r.ends_with("/RemediationView")));
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference `{r}`"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "`{r}` does not resolve"
            );
        }
    }

    #[test]
    fn document_is_openapi_3_with_the_crate_version() {
        let doc = spec();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let alert = &doc["components"]["schemas"]["AlertView"]["properties"];
        assert!(alert.get("generatorURL").is_some(), "serde renames apply");
        assert!(alert.get("receivedAt").is_some(), "camelCase applies");
    }
}
