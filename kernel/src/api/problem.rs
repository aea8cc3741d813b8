//! RFC 9457 problem details: every error the API returns has this shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::problem::Problem;

/// Base of the `type` URIs; each problem kind has a page of its own there.
pub const PROBLEM_BASE: &str = "https://order-hub.dev/problems/";

/// An API error, ready to be sent; boxed so `Result<_, ApiProblem>` stays small.
#[derive(Debug, Clone)]
pub struct ApiProblem(Box<ProblemDocument>);

/// The RFC 9457 document itself.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemDocument {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Field-level problems of an order (422), each with its JSON Pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<Problem>>,
    /// Where in the body a syntax error is (400 malformed JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl ApiProblem {
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiProblem(Box::new(ProblemDocument {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            problems: None,
            line: None,
            column: None,
        }))
    }

    pub fn with_problems(mut self, problems: Vec<Problem>) -> Self {
        self.0.problems = Some(problems);
        self
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.0.line = Some(line);
        self.0.column = Some(column);
        self
    }

    pub fn unauthorized() -> Self {
        ApiProblem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send a valid API key as 'Authorization: Bearer <key>'",
        )
    }

    pub fn forbidden(what: &str) -> Self {
        ApiProblem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            format!("your role may not {what}"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiProblem::new(StatusCode::NOT_FOUND, "not-found", "Not Found", detail)
    }

    pub fn internal() -> Self {
        ApiProblem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal Server Error",
            "the hub could not complete the request; it has been logged",
        )
    }
}

/// A query string that does not parse (`?limit=abc`).
pub fn bad_query(rejection: axum::extract::rejection::QueryRejection) -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "bad-query",
        "Bad Request",
        format!("invalid query string: {}", rejection.body_text()),
    )
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(*self.0)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
