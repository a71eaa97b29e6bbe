//! A JSON payload rendered ahead of time: the bytes go out as they are, while the OpenAPI spec
//! describes them with the schema of `T`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

/// Pre-serialised JSON documented as `T`.
#[derive(Debug)]
pub struct PreRendered<T> {
    body: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T> PreRendered<T> {
    pub fn new(body: impl Into<Bytes>) -> Self {
        Self { body: body.into(), _schema: PhantomData }
    }
}

impl<T: Type> Payload for PreRendered<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for PreRendered<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE_STR).body(self.body)
    }
}

impl<T> PreRendered<T> {
    const CONTENT_TYPE_STR: &'static str = "application/json";
}
