//! The one outbound HTTP client, shared and pooled, and how a failed call is classified: whether
//! the provider cannot have acted on it (the next routed account may try) or may have (only a
//! sync can tell).

use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};

use super::{ConnectorError, Unclear};
use crate::config::HttpConfig;

pub fn client(config: &HttpConfig) -> reqwest::Result<Client> {
    Client::builder()
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
}

/// Sends a call. A request that could not be built, or a connection that never opened, means the
/// provider never saw it; anything that failed after the request may have been sent is ambiguous.
pub async fn send(connector: &str, request: RequestBuilder) -> Result<Response, ConnectorError> {
    request.send().await.map_err(|e| {
        let reason =
            if e.is_timeout() { "no answer in time".to_string() } else { crate::text::clip(&e.to_string(), 500) };
        if e.is_builder() || (e.is_connect() && !e.is_timeout()) {
            ConnectorError::Unavailable { connector: connector.into(), reason }
        } else {
            ConnectorError::Ambiguous { connector: connector.into(), reason, unclear: Unclear::NoAnswer }
        }
    })
}
