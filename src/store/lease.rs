//! Partition leases and cluster members, on PostgreSQL's clock.
//!
//! Every instant here is the database's (`clock_timestamp()`), never an
//! instance's, so instances whose clocks disagree still agree on who holds
//! a lease. A take raises the lease's token; a write carries the token it
//! was made under ([`super::Fence`]) and the store refuses it once the
//! token has moved on.

use std::time::Duration;

use sqlx::Row;

use super::{Store, StoreError};

/// A partition's lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub owner: Option<String>,
    pub token: i64,
    /// Held: it has an owner and has not expired.
    pub held: bool,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    fn cluster_pool(&self) -> Result<&sqlx::PgPool, StoreError> {
        match self {
            Store::Postgres(p) => Ok(p),
            Store::Sqlite(..) => Err(StoreError::Corrupt(
                "partitions need PostgreSQL (server.database_url)".into(),
            )),
        }
    }

    /// Says `owner`, reached at `address`, is alive for `ttl` more, and
    /// returns how many instances are alive now, itself included.
    pub async fn member_alive(
        &self,
        owner: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let pool = self.cluster_pool()?;
        sqlx::query(
            "INSERT INTO cluster_members (owner, seen_until, address) \
             VALUES ($1, clock_timestamp() + $2::bigint * interval '1 millisecond', $3) \
             ON CONFLICT (owner) DO UPDATE \
             SET seen_until = excluded.seen_until, address = excluded.address",
        )
        .bind(owner)
        .bind(ms(ttl))
        .bind(address)
        .execute(pool)
        .await?;
        // Members long gone are forgotten.
        sqlx::query(
            "DELETE FROM cluster_members WHERE seen_until < clock_timestamp() - interval '1 hour'",
        )
        .execute(pool)
        .await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM cluster_members WHERE seen_until > clock_timestamp()",
        )
        .fetch_one(pool)
        .await?;
        Ok(usize::try_from(n).unwrap_or(1).max(1))
    }

    /// Who runs what now: each partition with the address of its owner
    /// (`None` while nobody holds its lease, or its owner is not alive),
    /// and the addresses of every instance alive.
    pub async fn directory(
        &self,
    ) -> Result<(Vec<(String, Option<String>)>, Vec<String>), StoreError> {
        let pool = self.cluster_pool()?;
        let owners = sqlx::query(
            "SELECT l.name, m.address FROM partition_leases l \
             LEFT JOIN cluster_members m ON m.owner = l.owner \
             AND l.expires_at > clock_timestamp() AND m.seen_until > clock_timestamp() \
             ORDER BY l.name",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("address")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        let alive = sqlx::query_scalar(
            "SELECT address FROM cluster_members \
             WHERE seen_until > clock_timestamp() AND address IS NOT NULL ORDER BY address",
        )
        .fetch_all(pool)
        .await?;
        Ok((owners, alive))
    }

    /// Says `owner` has stopped: the others share its partitions at once.
    pub async fn member_gone(&self, owner: &str) -> Result<(), StoreError> {
        let pool = self.cluster_pool()?;
        sqlx::query("DELETE FROM cluster_members WHERE owner = $1")
            .bind(owner)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Every partition's lease.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let pool = self.cluster_pool()?;
        let rows = sqlx::query(
            "SELECT name, owner, token, \
             (owner IS NOT NULL AND expires_at > clock_timestamp()) AS held \
             FROM partition_leases ORDER BY name",
        )
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    name: r.try_get("name")?,
                    owner: r.try_get("owner")?,
                    token: r.try_get("token")?,
                    held: r.try_get("held")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Takes `partition`'s lease for `owner` when nobody holds it (never
    /// held, released, or expired): the new token, or `None` when another
    /// instance holds it. A writer still inside a transaction under the
    /// old token finishes first: the take waits for its row lock.
    pub async fn lease_take(
        &self,
        partition: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let pool = self.cluster_pool()?;
        sqlx::query("INSERT INTO partition_leases (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(partition)
            .execute(pool)
            .await?;
        // A take waits for a writer of the old owner to finish, at most a
        // lease: the database ends that writer's transaction if it stands
        // idle so long (see `Fence::idle_ms`).
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind((2 * ms(ttl)).to_string())
            .execute(&mut *tx)
            .await?;
        let token = sqlx::query_scalar(
            "UPDATE partition_leases SET owner = $2, token = token + 1, \
             expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond' \
             WHERE name = $1 AND (owner IS NULL OR expires_at <= clock_timestamp()) \
             RETURNING token",
        )
        .bind(partition)
        .bind(owner)
        .bind(ms(ttl))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Extends the lease `owner` took with `token`. False when it has been
    /// taken since: the owner is fenced and must stand down. A lease that
    /// expired but that nobody took is still this owner's, and extends.
    pub async fn lease_renew(
        &self,
        partition: &str,
        owner: &str,
        token: i64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let pool = self.cluster_pool()?;
        let row = sqlx::query(
            "UPDATE partition_leases \
             SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond' \
             WHERE name = $1 AND owner = $2 AND token = $3 RETURNING token",
        )
        .bind(partition)
        .bind(owner)
        .bind(token)
        .bind(ms(ttl))
        .fetch_optional(pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives the lease up after a clean hand-over, so the next owner need
    /// not wait for it to expire. The token stays: the next take raises it.
    pub async fn lease_release(
        &self,
        partition: &str,
        owner: &str,
        token: i64,
    ) -> Result<(), StoreError> {
        let pool = self.cluster_pool()?;
        sqlx::query(
            "UPDATE partition_leases SET owner = NULL, expires_at = 'epoch' \
             WHERE name = $1 AND owner = $2 AND token = $3",
        )
        .bind(partition)
        .bind(owner)
        .bind(token)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Each stored event's partition token in log order, of `halls`: for
    /// checking that no two owners ever wrote at once.
    pub async fn event_fences(&self, halls: &[&str]) -> Result<Vec<Option<i64>>, StoreError> {
        let pool = self.cluster_pool()?;
        let halls: Vec<String> = halls.iter().map(|h| (*h).to_owned()).collect();
        let fences = sqlx::query("SELECT fence FROM events WHERE hall = ANY($1) ORDER BY seq")
            .bind(&halls)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| r.try_get::<Option<i64>, _>("fence"))
            .collect::<Result<_, _>>()?;
        Ok(fences)
    }
}
