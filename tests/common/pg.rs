//! A fresh PostgreSQL database for a test or a benchmark: created on the
//! server at an admin URL, dropped by name. The tests and the benchmarks
//! share it.

use sqlx::Connection;

/// Creates the database `name` on the server of `admin_url` and returns
/// its URL.
pub async fn create(admin_url: &str, name: &str) -> Result<String, sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    Ok(format!("{}/{name}", base(admin_url)))
}

/// Drops the database `name`, closing its connections; nothing when the
/// server cannot be reached.
pub async fn drop(admin_url: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// `postgres://user@host:port` of an admin URL, without the database.
pub fn base(admin_url: &str) -> &str {
    admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b)
}

/// The server named by `HALLWATCH_TEST_POSTGRES` (as the tests use it),
/// else the local one on 127.0.0.1:5432 when it answers; None when there
/// is none. For the benchmarks, which run without the tests' settings.
pub fn admin_url_or_local() -> Option<String> {
    if let Ok(url) = std::env::var("HALLWATCH_TEST_POSTGRES") {
        return Some(url);
    }
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 5432)),
        std::time::Duration::from_secs(1),
    )
    .ok()
    .map(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}
