-- A merchant's own webhook endpoint: the events of its orders that name no notify_url of
-- their own are delivered there, signed with the same webhook secret. NULL: none.
ALTER TABLE merchants ADD COLUMN notify_url TEXT;
-- Operators find a merchant by name again (`paygate merchants show demo`).
CREATE INDEX merchants_name ON merchants (name);
