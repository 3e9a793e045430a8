//! Provider stand-ins served in-process on loopback, for the answers and faults a real peer
//! cannot be made to give.

use std::time::Duration;

use axum::body::Body;
use axum::http::Uri;
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// A router serving on a free loopback port until dropped.
pub struct MockServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    pub async fn serve(app: Router) -> Self {
        Self::serve_on(std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port"), app).await
    }

    /// Serves on a listener bound already (a port chosen before the server could start).
    pub async fn serve_on(listener: std::net::TcpListener, app: Router) -> Self {
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("mock serves");
        });
        Self { url, task }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn answer(status: u16, content_type: &str, body: impl Into<String>) -> Response {
    Response::builder().status(status).header("content-type", content_type).body(Body::from(body.into())).unwrap()
}

pub fn json_answer(status: u16, body: Value) -> Response {
    answer(status, "application/json", body.to_string())
}

/// A slow Stripe: a card payment is answered after `pay_delay` (authorized when its capture is
/// manual, charged otherwise), a capture after `capture_delay`.
pub async fn slow_stripe(pay_delay: Duration, capture_delay: Duration) -> MockServer {
    let intent = |status: &str, received: i64, capture: &str| {
        json!({ "id": "pi_1", "object": "payment_intent", "status": status, "amount": 6540, "amount_received": received,
            "capture_method": capture, "client_secret": "pi_1_secret", "next_action": null })
    };
    let app = Router::new().fallback(move |uri: Uri, form: String| async move {
        match uri.path() {
            "/v1/payment_intents/pi_1/capture" => {
                tokio::time::sleep(capture_delay).await;
                json_answer(200, intent("succeeded", 6540, "manual"))
            }
            _ => {
                tokio::time::sleep(pay_delay).await;
                match form.contains("capture_method=manual") {
                    true => json_answer(200, intent("requires_capture", 0, "manual")),
                    false => json_answer(200, intent("succeeded", 6540, "automatic")),
                }
            }
        }
    });
    MockServer::serve(app).await
}
