//! A fresh PostgreSQL database for a test or a benchmark: created on the
//! server at an admin URL, dropped by name. The tests and the province
//! benchmark share it.

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
