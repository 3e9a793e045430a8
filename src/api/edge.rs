//! What every API request goes through around its route, in this order: observed (request id,
//! span, metrics) and pinned to a configuration version; traced; answered for CORS; refused when
//! its URI holds a NUL; then run in a task of its own under the request timeout.
//!
//! The steps are two services with one boxed future each, tower-http's trace and CORS layers
//! between them, stacked once onto each route. As a middleware each (axum's `from_fn`, stacked
//! one `Router::layer` at a time), every step cost a request several allocations and a clone of
//! every layer below it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::deadline::Deadline;
use super::extract::refuse_nul_in_uri;
use super::state::{self, AppState, CONFIG_VERSION};
use crate::telemetry::{HttpMeters, Observed};

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The outer step: the request observed and pinned.
#[derive(Clone)]
pub struct Arrive(pub AppState);

impl<S> Layer<S> for Arrive {
    type Service = Arrived<S>;

    fn layer(&self, inner: S) -> Arrived<S> {
        Arrived { inner, state: self.0.clone(), meters: Arc::default() }
    }
}

#[derive(Clone)]
pub struct Arrived<S> {
    inner: S,
    state: AppState,
    /// The metrics of the requests of the route this serves.
    meters: Arc<HttpMeters>,
}

impl<S, B> Service<Request> for Arrived<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Answer {
        let observed = Observed::start(&request);
        let version = state::pin(&self.state, &mut request);
        // Inside the request's span, so every line logged for a request carries its id.
        let answer = observed.span.in_scope(|| self.inner.call(request));
        let meters = Arc::clone(&self.meters);
        Box::pin(async move {
            let span = observed.span.clone();
            let Ok(answer) = tracing::Instrument::instrument(answer, span).await;
            let mut response = answer.map(Body::new);
            if let Some(version) = version {
                response.headers_mut().insert(CONFIG_VERSION.clone(), version);
            }
            observed.finish(&mut response, &meters);
            Ok(response)
        })
    }
}

/// The inner step: the URI checked, and the route's work run under the deadline.
#[derive(Clone)]
pub struct Bound(pub Deadline);

impl<S> Layer<S> for Bound {
    type Service = Bounded<S>;

    fn layer(&self, inner: S) -> Bounded<S> {
        Bounded { inner, deadline: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Bounded<S> {
    inner: S,
    deadline: Deadline,
}

impl<S> Service<Request> for Bounded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Answer {
        if let Err(refused) = refuse_nul_in_uri(request.uri()) {
            return Box::pin(std::future::ready(Ok(refused.into_response())));
        }
        let work = self.inner.call(request);
        let deadline = self.deadline.clone();
        Box::pin(async move {
            let work = async move {
                let Ok(response) = work.await;
                response
            };
            Ok(deadline.bound(work).await)
        })
    }
}
