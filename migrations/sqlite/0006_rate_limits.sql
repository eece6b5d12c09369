-- Per-token rate limits (issue #15), stored as `N/period` (`1000/hour`). A token's own rate, or
-- the account default in force when it was created; an account may also cap what its tokens get.
ALTER TABLE service_tokens ADD COLUMN rate_limit TEXT;
ALTER TABLE accounts ADD COLUMN default_rate_limit TEXT;
ALTER TABLE accounts ADD COLUMN max_rate_limit TEXT;
