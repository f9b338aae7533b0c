//! The two stores the ingest and replay sections run on: a SQLite file in
//! the run's directory, or a fresh database on the PostgreSQL server
//! (`HALLWATCH_TEST_POSTGRES`, else the local one), dropped afterwards.

use std::path::Path;

use anyhow::Context;

/// Which store a run writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// `sqlite` or `postgres`, as `--stores` names them.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            _ => anyhow::bail!("--stores {s:?}: sqlite or postgres"),
        }
    }
}

/// A store for one run; a PostgreSQL database is dropped by `drop_db`.
pub struct Db {
    pub backend: Backend,
    pub url: String,
    pg: Option<(String, String)>,
}

impl Db {
    /// A fresh store of `backend`: `events.db` in `dir`, or a new database.
    pub async fn create(backend: Backend, dir: &Path) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Ok(Self {
                backend,
                url: format!("sqlite://{}", dir.join("events.db").display()),
                pg: None,
            }),
            Backend::Postgres => {
                let admin = crate::pg::admin_url_or_local()
                    .context("no PostgreSQL: set HALLWATCH_TEST_POSTGRES")?;
                let name = format!(
                    "hallwatch_bench_{}_{}",
                    std::process::id(),
                    crate::env::free_port()
                );
                let url = crate::pg::create(&admin, &name).await.with_context(|| {
                    format!("cannot create the benchmark's database on {admin}")
                })?;
                Ok(Self {
                    backend,
                    url,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    pub async fn drop_db(&self) {
        if let Some((admin, name)) = &self.pg {
            crate::pg::drop(admin, name).await;
        }
    }

    /// Runs statements on the store, one after another.
    pub async fn execute(&self, statements: &[&str]) -> anyhow::Result<()> {
        macro_rules! run {
            ($pool:expr) => {{
                let pool = $pool;
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(*s)).execute(&pool).await?;
                }
                pool.close().await;
            }};
        }
        match self.backend {
            Backend::Sqlite => run!(sqlx::SqlitePool::connect(&self.url).await?),
            Backend::Postgres => run!(sqlx::PgPool::connect(&self.url).await?),
        }
        Ok(())
    }

    /// Events in the log and distinct message ids among them.
    pub async fn stored(&self) -> anyhow::Result<(u64, u64)> {
        use sqlx::Row;
        const COUNT: &str = "SELECT COUNT(*), COUNT(DISTINCT hall || '/' || msg_id) FROM events WHERE msg_id IS NOT NULL";
        let row = match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&format!("{}?mode=ro", self.url)).await?;
                let row = sqlx::query(COUNT).fetch_one(&pool).await?;
                let out = (row.get::<i64, _>(0), row.get::<i64, _>(1));
                pool.close().await;
                out
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await?;
                let row = sqlx::query(COUNT).fetch_one(&pool).await?;
                let out = (row.get::<i64, _>(0), row.get::<i64, _>(1));
                pool.close().await;
                out
            }
        };
        Ok((row.0 as u64, row.1 as u64))
    }
}
