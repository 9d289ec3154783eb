//! The one error type of the HTTP layer: a status and a JSON body `{"error", "detail"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Role;
use crate::replica::ProposeError;

/// The schemes a 401 asks for (`WWW-Authenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Bearer,
    Basic,
    /// Basic first, so that a browser prompts for a user and password.
    BasicOrBearer,
}

const BASIC: &str = "Basic realm=\"openfero\", charset=\"UTF-8\"";

impl Challenge {
    fn values(self) -> &'static [&'static str] {
        match self {
            Challenge::Bearer => &["Bearer"],
            Challenge::Basic => &[BASIC],
            Challenge::BasicOrBearer => &[BASIC, "Bearer realm=\"openfero\""],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String, detail: Value },
    #[error("body larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type `{got}`: send application/json")]
    UnsupportedMediaType { got: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// Credentials missing or wrong; `reason` never quotes them.
    #[error("{reason}")]
    Unauthorized {
        reason: String,
        challenge: Challenge,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("`{who}` has the {has} role; this needs {needs}")]
    ForbiddenRole { who: String, has: Role, needs: Role },
    #[error("{0}")]
    Conflict(String),
    #[error("{reason}")]
    Unavailable {
        reason: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ForbiddenRole { .. } => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(message: impl Into<String>, detail: Value) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            detail,
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::NotLeader { leader, leader_api } => ApiError::Unavailable {
                reason: match (leader, leader_api) {
                    (Some(id), Some(api)) => {
                        format!("this node is not the leader; leader is `{id:016x}` at `{api}`")
                    }
                    _ => "no leader is known; retry shortly".to_string(),
                },
                retry_after_secs: 1,
            },
            ProposeError::NoQuorum(reason) => ApiError::Unavailable {
                reason: format!("no quorum: {reason}"),
                retry_after_secs: 2,
            },
            ProposeError::NoClock => ApiError::Unavailable {
                reason: e.to_string(),
                retry_after_secs: 1,
            },
            ProposeError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<openfero_raft::KvError> for ApiError {
    fn from(e: openfero_raft::KvError) -> Self {
        ApiError::Internal(format!("reading the store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::PayloadTooLarge { limit } => json!({ "limitBytes": limit }),
            ApiError::ForbiddenRole { has, needs, .. } => {
                json!({ "role": has.as_str(), "required": needs.as_str() })
            }
            _ => Value::Null,
        };
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = (
            status,
            Json(super::view::ErrorBody {
                error: self.to_string(),
                detail,
            }),
        )
            .into_response();
        match &self {
            ApiError::Unavailable {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            // RFC 9110: a 401 names the scheme it wants.
            ApiError::Unauthorized { challenge, .. } => {
                for v in challenge.values() {
                    resp.headers_mut()
                        .append(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
                }
            }
            _ => {}
        }
        resp
    }
}
