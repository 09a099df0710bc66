-- Review app access control (issue #27). Both tables are append-only, like the rest of review: the throttle,
-- the lockout and an account's disabled state are derived from their rows, so restarting `msm review` resets
-- nothing, and the history of who tried what stays for audit.

-- Every password sign-in attempt, and the admin's unlocks. `name` is the name as typed, whether or not an
-- account has it (a lockout of a name without an account tells nobody which names exist).
CREATE TABLE review_sign_ins (
    seq         BIGINT NOT NULL DEFAULT nextval('review_event_seq'),
    occurred_at TIMESTAMP NOT NULL,
    name        VARCHAR NOT NULL,
    client      VARCHAR NOT NULL,            -- the client's address as the server saw it ('?' when unknown)
    outcome     VARCHAR NOT NULL             -- 'ok' | 'failed' | 'throttled' | 'locked' | 'reset'
);
CREATE INDEX review_sign_ins_name ON review_sign_ins (name);

-- An account's state changes; the latest row for a name is in force (none: enabled). 'removed' is final: review
-- tables are never UPDATEd or DELETEd from, so a removed account's row stays and its name is not reused.
CREATE TABLE review_account_states (
    seq         BIGINT NOT NULL DEFAULT nextval('review_event_seq'),
    occurred_at TIMESTAMP NOT NULL,
    name        VARCHAR NOT NULL,
    state       VARCHAR NOT NULL,            -- 'enabled' | 'disabled' | 'removed'
    actor       VARCHAR NOT NULL
);
