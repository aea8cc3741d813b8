//! RFC 9457 problem details: every error the API returns has this shape.
//!
//! The same types describe it in the OpenAPI document: [`ProblemDocument`]
//! is the `Problem` schema, [`FieldProblem`] the schema of one entry of its
//! `problems`, and the errors most endpoints share (401, 403, a bad body, …)
//! are reusable responses whose examples are built by the constructors the
//! handlers call, so they cannot drift from what the API sends.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::problem::Problem;

/// Base of the `type` URIs; each problem kind has a page of its own there.
pub const PROBLEM_BASE: &str = "https://order-hub.dev/problems/";

/// An API error, ready to be sent; boxed so `Result<_, ApiProblem>` stays small.
#[derive(Debug, Clone)]
pub struct ApiProblem(Box<ProblemDocument>, Option<u64>);

/// An RFC 9457 problem document (`application/problem+json`): the body of
/// every error the API returns.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDocument {
    /// The kind of problem: `https://order-hub.dev/problems/<slug>`, stable
    /// for programs to branch on.
    #[serde(rename = "type")]
    #[schema(format = "uri", example = "https://order-hub.dev/problems/invalid-order")]
    pub kind: String,
    /// Short summary of the kind (the HTTP reason phrase).
    #[schema(value_type = String, example = "Invalid Order")]
    pub title: &'static str,
    /// The HTTP status code, repeated.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Field-level problems of an order (422), each with its JSON Pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<FieldProblem>, required = false)]
    pub problems: Option<Vec<Problem>>,
    /// Line (1-based) of a syntax error in the body (400 malformed JSON, invalid UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = usize, required = false, minimum = 1)]
    pub line: Option<usize>,
    /// Column (1-based) of that syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = usize, required = false, minimum = 1)]
    pub column: Option<usize>,
}

/// One thing wrong with an order, with the JSON Pointer of the field.
///
/// Documentation only: the API sends [`crate::problem::Problem`], a domain
/// type; a test checks this schema has exactly its fields.
#[derive(ToSchema)]
#[allow(dead_code)] // never built: it only describes `crate::problem::Problem`
pub struct FieldProblem {
    /// JSON Pointer (RFC 6901) into the *normalized* order; `""` is the whole order.
    #[schema(example = "/origin_port")]
    pointer: String,
    /// Stable machine-readable code: a normalization code (`missing-unit`,
    /// `unknown-code`, …) or the JSON Schema keyword that failed (`required`, `type`, …).
    #[schema(example = "unknown-code")]
    code: String,
    /// Human-readable explanation, safe to show to the customer.
    #[schema(example = "'CNZZZ' is not a known UN/LOCODE port")]
    message: String,
    /// Whether staff may fix this one in the review queue.
    reviewable: bool,
}

impl ApiProblem {
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiProblem(
            Box::new(ProblemDocument {
                kind: format!("{PROBLEM_BASE}{slug}"),
                title,
                status: status.as_u16(),
                detail: detail.into(),
                problems: None,
                line: None,
                column: None,
            }),
            None,
        )
    }

    /// 429: `principal` is over its intake rate; `Retry-After` says when to retry.
    pub fn rate_limited(limited: &super::rate_limit::Limited) -> Self {
        let secs = limited.retry_after_secs();
        let mut problem = ApiProblem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too Many Requests",
            format!(
                "this API key is over its limit of {} requests per second (bursts of {}); retry in {secs} s",
                limited.per_second, limited.burst
            ),
        );
        problem.1 = Some(secs);
        problem
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
        if let Some(secs) = self.1 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An `application/problem+json` response with `example` as its example body.
fn problem_response(description: &str, example: &ApiProblem) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .example(serde_json::to_value(&*example.0).ok())
            .build(),
    )
}

/// Declares the problem responses many endpoints share as reusable OpenAPI
/// responses (`#/components/responses/<Name>`, registered in `openapi.rs`).
/// In a handler's `#[utoipa::path(responses(...))]`:
/// `(status = 401, response = problem::Unauthorized)`.
macro_rules! shared_problem_responses {
    ($($(#[$doc:meta])* $name:ident => $response:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                (stringify!($name), $response.build().into())
            }
        }
    )*};
}

shared_problem_responses! {
    /// 401: no API key, or one the hub does not know.
    Unauthorized => problem_response(
        "No valid API key: send `Authorization: Bearer <key>`.",
        &ApiProblem::unauthorized(),
    )
    .header(
        "WWW-Authenticate",
        Header::builder()
            .schema(Some(Object::with_type(Type::String)))
            .description(Some("`Bearer`"))
            .build(),
    );
    /// 403: the caller's role may not use this endpoint.
    Forbidden => problem_response(
        "The caller's role may not do this.",
        &ApiProblem::forbidden("manage plugins and targets"),
    );
    /// 400: a query string that does not parse.
    BadQuery => problem_response(
        "The query string does not parse (`?limit=abc`).",
        &ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "Bad Request",
            "invalid query string: Failed to deserialize query string: limit: invalid digit found in string",
        ),
    );
    // The body errors below are built by `extract.rs`; their examples repeat it.
    /// 400: a body that is empty, not UTF-8 or not JSON.
    BadBody => problem_response(
        "The body is empty, unreadable, not UTF-8 or not JSON: `type` ends in `empty-body`, \
         `unreadable-body`, `invalid-utf8` or `malformed-json`; `line` and `column` point at a syntax error.",
        &ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Bad Request",
            "the body is not valid JSON: expected `,` or `}` at line 3 column 5",
        )
        .at(3, 5),
    );
    /// 429: the caller is over its intake rate (`[rate_limits]`).
    RateLimited => problem_response(
        "The API key is over its intake rate (`[rate_limits]` of the hub): wait `Retry-After` seconds. \
         Each key has its own budget, so other callers are not held up.",
        &ApiProblem::rate_limited(&super::rate_limit::Limited {
            per_second: 50.0,
            burst: 100,
            retry_after: std::time::Duration::from_millis(20),
        }),
    )
    .header(
        "Retry-After",
        Header::builder()
            .schema(Some(Object::with_type(Type::Integer)))
            .description(Some("Seconds to wait before retrying (at least 1)."))
            .build(),
    );
    /// 413: a body over the hub's `max_body_bytes`.
    PayloadTooLarge => problem_response(
        "The body is larger than the hub's limit (`max_body_bytes`).",
        &ApiProblem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload Too Large",
            "the body is larger than the hub's limit of 1048576 bytes",
        ),
    );
    /// 415: a body that is not `application/json` (or `*/*+json`) in UTF-8.
    UnsupportedMediaType => problem_response(
        "Send `Content-Type: application/json` (UTF-8).",
        &ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            "send 'Content-Type: application/json' (UTF-8); got 'text/plain'",
        ),
    );
    /// 500: the store failed; the details are in the hub's log.
    Internal => problem_response(
        "The hub could not complete the request (logged).",
        &ApiProblem::internal(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    fn property_names(schema: RefOr<utoipa::openapi::schema::Schema>) -> Vec<String> {
        let schema = serde_json::to_value(schema).unwrap_or_default();
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn field_problem_schema_has_the_fields_the_api_sends() {
        let sent = serde_json::to_value(Problem {
            pointer: "/a".into(),
            code: "required".into(),
            message: "m".into(),
            reviewable: false,
        })
        .unwrap_or_default();
        let mut sent: Vec<String> = sent
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        sent.sort();
        assert!(!sent.is_empty());
        assert_eq!(property_names(FieldProblem::schema()), sent);
    }

    #[test]
    fn problem_schema_has_the_fields_the_api_sends() {
        let sent = serde_json::to_value(
            &*ApiProblem::new(StatusCode::BAD_REQUEST, "x", "Bad Request", "d")
                .at(1, 2)
                .with_problems(vec![])
                .0,
        )
        .unwrap_or_default();
        let mut sent: Vec<String> = sent
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        sent.sort();
        assert_eq!(property_names(ProblemDocument::schema()), sent);
    }
}
