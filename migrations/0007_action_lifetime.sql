-- Contract 2.0.0: until when the provider honours the stored pay action (ms; NULL: until the
-- provider deadline, as for 1.0.0 adapters), and the payer details the channel binds that
-- action to (a SHA-256 fingerprint of them, never the openid or IP itself; '' when the
-- channel binds nothing). A repay reuses the stored action only before its expiry and only
-- for the same binding.
ALTER TABLE payments ADD COLUMN action_expires_at BIGINT;
ALTER TABLE payments ADD COLUMN payer_binding TEXT NOT NULL DEFAULT '';
