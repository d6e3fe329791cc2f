//! The hub's one error type: a status, a stable machine code and a message for people.
//!
//! Handlers return `Result<_, AppError>` and use `?`. Internal details (storage failures) are
//! logged with the request's span and summarised to the client; no message carries personal
//! data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bianmin_protocol::{ErrorBody, ErrorDetail};

use crate::storage::StorageError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
}

impl AppError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 with code `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 500 with code `internal`; `detail` is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the hub failed to complete the request; nothing was stored; try again",
        )
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::CodeInvalid => AppError::new(
                StatusCode::FORBIDDEN,
                "enrolment_code_invalid",
                e.to_string(),
            ),
            StorageError::Duplicate(_) => {
                AppError::new(StatusCode::CONFLICT, "duplicate", e.to_string())
            }
            StorageError::NotFound(_) => {
                AppError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            other => AppError::internal(other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
