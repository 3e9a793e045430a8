//! The embedded store: a SQLite file in WAL mode, created with its folder on first start.

use crate::common;

use common::*;
use sqlx::Connection;

#[tokio::test]
async fn payments_land_in_a_sqlite_file_in_wal_mode() {
    if !database::sqlite_only("the SQLite file's place and journal mode") {
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = config(dir.path());
    // A folder that does not exist yet: the daemon makes it.
    let db = dir.path().join("nested/data/switchyard.db");
    config.database.url = format!("sqlite://{}", db.display());
    let app = TestApp::start_with(tempfile::TempDir::new().unwrap(), config).await;

    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    assert_eq!(status, 200, "{body}");

    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    let (status_col, amount): (String, i64) =
        sqlx::query_as("SELECT status, net_amount FROM payment_intents WHERE id = ?1")
            .bind(body["id"].as_str().unwrap())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((status_col.as_str(), amount), ("succeeded", 6540));
    conn.close().await.unwrap();
    app.stop().await;
}
