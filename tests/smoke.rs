mod common;

use common::*;

#[tokio::test]
async fn harness_takes_a_payment() {
    let app = TestApp::start().await;
    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(app.count("payment_intents").await, 1);
    app.stop().await;
}
