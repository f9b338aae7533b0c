-- Where each instance is reached by the others ([cluster] advertise), so
-- that any instance can forward a hall's requests to the one running it.
ALTER TABLE cluster_members ADD COLUMN address TEXT;
