//! The request timeout, and request work that outlives its request.
//!
//! A client waits at most `server.request_timeout_ms` for an answer; the request's work does not
//! stop then. Every request is handled in a task of its own, so neither the timeout nor a client
//! that hangs up can cut a payment off between the provider's answer and the database: what a
//! provider was asked to do is always followed by its answer, or the lack of one, being stored.
//! The payment flows bound their own time (`payments.attempt_timeout_ms`, `budget_ms`, the HTTP
//! client's timeouts), so such work ends by itself; the daemon's stop waits for it (`Drained`).

use std::future::Future;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tracing::Instrument;

use super::error::ApiError;

/// Held by every request's task while it runs; what it holds matters only by being dropped.
#[derive(Clone)]
pub struct Work {
    _alive: watch::Receiver<()>,
}

/// Knows when no request work is left: every `Work` is gone.
pub struct Drained(watch::Sender<()>);

pub fn tracker() -> (Work, Drained) {
    let (done, work) = watch::channel(());
    (Work { _alive: work }, Drained(done))
}

impl Drained {
    pub async fn wait(&self) {
        self.0.closed().await;
    }
}

/// The time a client waits, and the tracker request tasks hold.
#[derive(Clone)]
pub struct Deadline {
    pub limit: Duration,
    pub work: Work,
}

impl Deadline {
    /// Runs `work` in its own task and answers what it answers, or 504 once the limit has passed
    /// while the task goes on. Work that panicked is answered 500.
    pub async fn bound(self, work: impl Future<Output = Response> + Send + 'static) -> Response {
        let held = self.work;
        let task = tokio::spawn(
            async move {
                let _held = held;
                work.await
            }
            .instrument(tracing::Span::current()),
        );
        match tokio::time::timeout(self.limit, task).await {
            Ok(Ok(response)) => response,
            Ok(Err(failed)) => ApiError::Internal(Box::new(failed)).into_response(),
            Err(_) => {
                tracing::warn!(limit = ?self.limit, "no answer within the request timeout; the request goes on");
                ApiError::Timeout(self.limit).into_response()
            }
        }
    }
}
