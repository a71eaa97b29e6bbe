//! Request bodies of the write API: JSON read as it is, so that a body that is not a server.json
//! is answered in the official order (422, before authorisation is looked at) with the fields
//! named, rather than by the framework's generic parse error. The document describes them with
//! the schema of `T`.

use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

/// A JSON body, documented as `T`: the parsed value, or why it is not JSON.
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: Result<Value, String>,
    _schema: PhantomData<fn() -> T>,
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| format!("the body is not JSON: {e}"));
        Ok(Self { value, _schema: PhantomData })
    }
}

/// The request body of an operation: JSON (`application/json`, any `application/…+json`, or no
/// `Content-Type`); another type (e.g. the form type `curl --data` sends without `-H`) is 415.
impl<'a, T: Type + Send> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: <Self as Payload>::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if !is_json(ct) => {
                Err(poem_openapi::error::ContentTypeError::NotSupported { content_type: ct.to_owned() }.into())
            }
            _ => <Self as ParsePayload>::from_request(request, body).await,
        }
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}
