//! RFC 9457 problem details for every failure, including unknown routes and bad parameters.

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::Object;
use poem_openapi::error::ParseParamError;
use poem_openapi::payload::Json;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: `{"title","status","detail","errors"?}`.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// Short, human-readable summary of the problem type (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// Which inputs were invalid, for validation failures (absent otherwise).
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<ProblemError>,
}

/// One invalid input.
#[derive(Debug, Clone, Object)]
pub struct ProblemError {
    /// Where the input is: `query.limit`, `path.serverName`.
    pub location: String,
    /// What is wrong with it.
    pub message: String,
    /// The value that was given, when there was one.
    #[oai(skip_serializing_if_is_none)]
    pub value: Option<String>,
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Self {
            title: "Unprocessable Entity".to_owned(),
            status: 422,
            detail: "invalid query.limit: must be an integer from 1 to 100".to_owned(),
            errors: vec![ProblemError {
                location: "query.limit".to_owned(),
                message: "must be an integer from 1 to 100".to_owned(),
                value: None,
            }],
        }
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A problem about one input.
    pub fn invalid(status: StatusCode, location: &str, message: impl Into<String>, value: Option<&str>) -> Self {
        let message = message.into();
        Self {
            errors: vec![ProblemError {
                location: location.to_owned(),
                message: message.clone(),
                value: value.map(str::to_owned),
            }],
            ..Self::new(status, format!("invalid {location}: {message}"))
        }
    }

    pub fn json(self) -> Json<Self> {
        Json(self)
    }

    pub fn into_poem(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        let mut body = body;
        if !self.errors.is_empty() {
            body["errors"] = self
                .errors
                .iter()
                .map(|e| {
                    let mut v = serde_json::json!({"location": e.location, "message": e.message});
                    if let Some(value) = &e.value {
                        v["value"] = serde_json::Value::String(value.clone());
                    }
                    v
                })
                .collect();
        }
        Response::builder().status(status).content_type(PROBLEM_JSON).body(body.to_string())
    }
}

/// Whether a problem answering `req` goes out as `application/json`: when its `Accept` asks for
/// `application/json` and not for `application/problem+json` (generated clients send exactly
/// `application/json`); every other client gets `application/problem+json`. The body is the same.
/// The observation layer asks this of every request and applies [`negotiate`] to its response.
pub fn wants_problem_as_json(req: &Request) -> bool {
    req.headers().get(poem::http::header::ACCEPT).is_some_and(wants_plain_json)
}

/// Relabels a problem response as `application/json` when [`wants_problem_as_json`] said so.
pub fn negotiate(problem_as_json: bool, resp: &mut Response) {
    if problem_as_json && resp.content_type().is_some_and(|c| c.starts_with(PROBLEM_JSON)) {
        resp.headers_mut()
            .insert(poem::http::header::CONTENT_TYPE, poem::http::HeaderValue::from_static("application/json"));
    }
}

/// Whether an `Accept` header lists `application/json` (with a non-zero weight) and not
/// `application/problem+json`.
fn wants_plain_json(accept: &poem::http::HeaderValue) -> bool {
    let Ok(accept) = accept.to_str() else { return false };
    let mut json = false;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case(PROBLEM_JSON) {
            return false;
        }
        let refused = parts.any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0)));
        json |= media.eq_ignore_ascii_case("application/json") && !refused;
    }
    json
}

/// Query parameters whose malformed values are a 400 (the official API's choice); every other
/// malformed parameter is a 422.
const BAD_REQUEST_PARAMS: &[&str] = &["updated_since", "cursor"];

/// Turns every error, and every error status without a problem body, into problem+json.
pub async fn problem_middleware<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    match next.call(req).await {
        Ok(resp) => Ok(ensure_problem(resp.into_response())),
        Err(err) => {
            let mut resp = error_to_problem(&err);
            if let Some(id) = err.data::<poem_openapi::OperationId>() {
                resp.set_data(*id);
            }
            Ok(resp)
        }
    }
}

fn ensure_problem(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // A JSON body is the endpoint's own answer (problem+json, or e.g. the readiness report).
    let is_json = resp.content_type().is_some_and(|c| c.starts_with(PROBLEM_JSON) || c.starts_with("application/json"));
    if is_json { resp } else { Problem::new(status, default_detail(status)).into_poem() }
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no such resource; see /openapi.json for the routes this server has",
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource",
        _ => "the request could not be processed",
    }
}

fn error_to_problem(err: &poem::Error) -> Response {
    if let Some(param) = err.downcast_ref::<ParseParamError>() {
        let status = if BAD_REQUEST_PARAMS.contains(&param.name) {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let message = match param.name {
            "limit" => "must be an integer from 1 to 100".to_owned(),
            "include_deleted" => "must be `true` or `false`".to_owned(),
            "updated_since" => "must be an RFC 3339 timestamp, e.g. 2025-01-01T00:00:00Z".to_owned(),
            _ => param.reason.clone(),
        };
        return Problem::invalid(status, &format!("query.{}", param.name), message, None).into_poem();
    }
    let status = err.status();
    if err.is::<poem_openapi::error::ContentTypeError>() {
        return Problem::new(status, format!("{err}; send the body as `Content-Type: application/json`")).into_poem();
    }
    if err.is::<poem_openapi::error::ParseRequestPayloadError>() {
        return Problem::new(status, err.to_string()).into_poem();
    }
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        return Problem::new(status, "internal error").into_poem();
    }
    Problem::new(status, default_detail(status)).into_poem()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_asking_for_json_only_gets_its_problems_as_json() {
        let cases = [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/json, text/plain;q=0.5", true),
            ("application/problem+json", false),
            ("application/json, application/problem+json", false),
            ("*/*", false),
            ("text/html, */*;q=0.8", false),
            ("application/json;q=0", false),
            ("application/json; q=0.0, */*", false),
        ];
        for (accept, plain) in cases {
            assert_eq!(super::wants_plain_json(&poem::http::HeaderValue::from_static(accept)), plain, "{accept}");
        }
    }

    /// The document must describe what `into_poem` sends: `errors` only on validation failures.
    #[test]
    fn the_documented_problem_does_not_require_errors() {
        let spec: serde_json::Value = serde_json::from_str(&crate::http::spec_json()).unwrap();
        let schema = &spec["components"]["schemas"]["Problem"];
        assert_eq!(schema["required"], serde_json::json!(["title", "status", "detail"]), "{schema}");
    }

    /// The path hardening answers 400 before routing, so every operation with a path parameter
    /// (which a client fills with arbitrary text) must document it.
    #[test]
    fn every_operation_with_a_path_parameter_documents_the_hardening_400() {
        let spec: serde_json::Value = serde_json::from_str(&crate::http::spec_json()).unwrap();
        let mut missing = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let has_path_param = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
                if has_path_param && op["responses"].get("400").is_none() {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "no documented 400: {missing:?}");
    }

    /// In `oauth` mode authentication answers 401 before the handler on every path that is not
    /// public by default, so every such operation must document it (`/readiness` answers every
    /// caller: a bad token there counts as none).
    #[test]
    fn every_operation_outside_the_default_public_paths_documents_401() {
        let spec: serde_json::Value = serde_json::from_str(&crate::http::spec_json()).unwrap();
        let mut missing = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            if crate::config::auth::DEFAULT_PUBLIC_PATHS.contains(&path.as_str()) || path == "/readiness" {
                continue;
            }
            for (method, op) in item.as_object().unwrap() {
                if op["responses"].get("401").is_none() {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "no documented 401: {missing:?}");
    }
}
