-- Partitions need PostgreSQL; kept so that both stores have one schema.
ALTER TABLE cluster_members ADD COLUMN address TEXT;
