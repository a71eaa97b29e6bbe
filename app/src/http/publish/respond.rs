//! What the write API answers: the response of each kind of operation, and the one mapping from
//! a refused or failed write to its status and problem.

use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use thv_domain::access::WriteDenied;
use thv_domain::managed::Refusal;
use thv_domain::validate::Issue;
use thv_ports::StoreError;

use super::super::payload::PreRendered;
use super::super::problem::{Problem, ProblemError};
use super::super::schema::ServerResponse;
use crate::catalog::WriteError;

/// Why a write was not done: the status and the problem to answer with, and how the audit
/// trail calls it.
#[derive(Debug)]
pub struct Failure {
    pub problem: Problem,
    /// `denied` (the caller may not write), `refused` (the write may not be done) or `failed`.
    pub outcome: &'static str,
}

impl Failure {
    pub fn denied(problem: Problem) -> Self {
        Self { problem, outcome: "denied" }
    }

    pub fn refused(problem: Problem) -> Self {
        Self { problem, outcome: "refused" }
    }

    pub fn status(&self) -> u16 {
        self.problem.status
    }

    /// A body that is not a server.json, or a document that does not validate: 422 naming
    /// every field.
    pub fn invalid(issues: &[Issue]) -> Self {
        let detail = match issues {
            [one] => format!("invalid server.json: {} ({})", one.message, one.location),
            many => format!("invalid server.json: {} problems, see `errors`", many.len()),
        };
        let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        problem.errors = issues
            .iter()
            .map(|i| ProblemError { location: i.location.clone(), message: i.message.clone(), value: None })
            .collect();
        Self::refused(problem)
    }

    /// A caller who may not write.
    pub fn from_denied(denied: WriteDenied, source: &str) -> Self {
        Self::denied(match denied {
            WriteDenied::TokenRequired => super::super::auth::token_missing(),
            WriteDenied::MissingRole => Problem::new(
                StatusCode::FORBIDDEN,
                "writing entries needs the `manageEntries` role; ask for a token whose claims grant it",
            ),
            WriteDenied::AnonymousMode => Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "writes are refused in anonymous mode: set `auth.mode: oauth` and give writers the `manageEntries` role, or, for local development only, set `managed: {{allowAnonymousWrites: true}}` on source `{source}`"
                ),
            ),
        })
    }

    /// A write the catalogue refused or could not store. `duplicate` is the status of a
    /// duplicate version (400 on the official API, 409 on `/v1/entries`).
    pub fn from_write(e: &WriteError, duplicate: StatusCode) -> Self {
        let detail = e.to_string();
        let one = |status: StatusCode, location: &str| {
            let mut p = Problem::new(status, detail.clone());
            p.errors = vec![ProblemError { location: location.to_owned(), message: detail.clone(), value: None }];
            Self::refused(p)
        };
        match e {
            WriteError::NotManaged { .. } => Self::refused(Problem::new(StatusCode::NOT_IMPLEMENTED, detail)),
            WriteError::FilteredOut { .. } | WriteError::Shadowed { .. } => one(StatusCode::BAD_REQUEST, "body.name"),
            WriteError::RemoteInUse { .. } => one(StatusCode::BAD_REQUEST, "body.remotes"),
            WriteError::Refused(r) => match r {
                Refusal::Duplicate { .. } => one(duplicate, "body.version"),
                Refusal::NoVersion { .. } => one(StatusCode::NOT_FOUND, "path.version"),
                Refusal::NoServer { .. } => one(StatusCode::NOT_FOUND, "path.serverName"),
                Refusal::TooManyVersions { .. } | Refusal::PathMismatch { .. } => {
                    one(StatusCode::BAD_REQUEST, "body.version")
                }
                Refusal::PublisherMetaTooLarge { .. } => one(StatusCode::BAD_REQUEST, "body._meta"),
                Refusal::NoChange(_) => one(StatusCode::BAD_REQUEST, "body.status"),
                Refusal::StatusMessage(_) => one(StatusCode::BAD_REQUEST, "body.statusMessage"),
            },
            WriteError::Store(StoreError::Conflict(_)) => {
                Self { problem: Problem::new(StatusCode::CONFLICT, format!("{detail}; try again")), outcome: "failed" }
            }
            WriteError::Store(StoreError::Unavailable(_)) => {
                Self { problem: Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail), outcome: "failed" }
            }
            WriteError::Store(_) => {
                tracing::error!(error = %e, "a write could not be stored");
                Self {
                    problem: Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the write could not be stored"),
                    outcome: "failed",
                }
            }
        }
    }
}

/// Generates a response enum of the write API: its success variant(s) plus every failure.
macro_rules! write_response {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident $(($payload:ty))? ,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, ApiResponse)]
        pub enum $name {
            $($(#[$vmeta])* $variant $(($payload))?,)+
            /// The request is refused: a duplicate version, a remote URL of another server, a
            /// server the registry's filter hides, a status change that changes nothing, a
            /// document whose name or version is not the path's.
            #[oai(status = 400, content_type = "application/problem+json")]
            BadRequest(Json<Problem>),
            /// A token is required (none was sent in `oauth` mode), or it is not valid.
            #[oai(status = 401, content_type = "application/problem+json")]
            Unauthorized(Json<Problem>),
            /// The caller may not write: the token lacks the `manageEntries` role, or the server
            /// runs in `anonymous` mode and the managed source does not accept anonymous writes.
            #[oai(status = 403, content_type = "application/problem+json")]
            Forbidden(Json<Problem>),
            /// The registry does not exist or the caller may not read it, or the server or
            /// version does not exist.
            #[oai(status = 404, content_type = "application/problem+json")]
            NotFound(Json<Problem>),
            /// Another write of the same server kept colliding with this one; try again (or a
            /// duplicate version on `/v1/entries`).
            #[oai(status = 409, content_type = "application/problem+json")]
            Conflict(Json<Problem>),
            /// The body is not JSON (`Content-Type: application/json`).
            #[oai(status = 415, content_type = "application/problem+json")]
            UnsupportedMediaType(Json<Problem>),
            /// The body is not a valid server.json (`errors` names each field).
            #[oai(status = 422, content_type = "application/problem+json")]
            Unprocessable(Json<Problem>),
            /// The write could not be stored.
            #[oai(status = 500, content_type = "application/problem+json")]
            Internal(Json<Problem>),
            /// The registry does not take publishes: it has no managed source.
            #[oai(status = 501, content_type = "application/problem+json")]
            NotImplemented(Json<Problem>),
            /// The store cannot be reached right now; nothing was written.
            #[oai(status = 503, content_type = "application/problem+json")]
            Unavailable(Json<Problem>),
        }

        impl From<Failure> for $name {
            fn from(f: Failure) -> Self {
                let p = Json(f.problem);
                match p.0.status {
                    400 => Self::BadRequest(p),
                    401 => Self::Unauthorized(p),
                    403 => Self::Forbidden(p),
                    404 => Self::NotFound(p),
                    409 => Self::Conflict(p),
                    415 => Self::UnsupportedMediaType(p),
                    422 => Self::Unprocessable(p),
                    501 => Self::NotImplemented(p),
                    503 => Self::Unavailable(p),
                    _ => Self::Internal(p),
                }
            }
        }
    };
}

write_response! {
    /// Response of the writes of one version.
    WriteResponse {
        /// The version as stored now.
        #[oai(status = 200)]
        Ok(PreRendered<ServerResponse>),
    }
}

write_response! {
    /// Response of a status change of every version of a server.
    WriteAllResponse {
        /// Every version of the server as stored now.
        #[oai(status = 200)]
        Ok(PreRendered<AllVersionsStatusResponse>),
    }
}

write_response! {
    /// Response of `POST /v1/entries`.
    EntryCreatedResponse {
        /// The published version.
        #[oai(status = 201)]
        Created(PreRendered<ServerResponse>),
    }
}

write_response! {
    /// Response of `DELETE /v1/entries/server/{name}/versions/{version}`.
    EntryDeletedResponse {
        /// The version is deleted (its status is `deleted`; the version is never reused).
        #[oai(status = 204)]
        Deleted,
    }
}

/// Every version of a server after a status change.
#[derive(Debug, poem_openapi::Object)]
#[oai(rename = "AllVersionsStatusResponse")]
pub struct AllVersionsStatusResponse {
    pub servers: Vec<ServerResponse>,
}
