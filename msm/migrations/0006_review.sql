-- Human review (issue #6). Every table here is append-only: the review app only INSERTs, and the current
-- state of a document (its text version, each reviewer's verdict, who it is assigned to) is derived from the
-- latest row. That keeps the full history of every document for adjudication and audit.

-- Local accounts: a salted scrypt hash, never the password.
CREATE TABLE review_users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL,          -- 'reviewer' | 'admin'
    password_hash VARCHAR NOT NULL,          -- scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>
    created_at    TIMESTAMP NOT NULL
);

-- A global sequence orders events across processes: "latest" means highest seq, not the wall clock
-- (two writers can share a timestamp).
CREATE SEQUENCE review_event_seq START 1;

-- One row per reviewer action. The event id is made by the writer, so a retried insert after an
-- uncertain commit is ignored instead of duplicated.
CREATE TABLE review_decisions (
    event_id       VARCHAR PRIMARY KEY,
    seq            BIGINT NOT NULL DEFAULT nextval('review_event_seq'),
    schema_version INTEGER NOT NULL,
    run            VARCHAR NOT NULL,
    doc_id         VARCHAR NOT NULL,
    doc_version    INTEGER NOT NULL,         -- 0 = the text in the run; n > 0 = review_doc_versions row n
    reviewer       VARCHAR NOT NULL,
    action         VARCHAR NOT NULL,         -- 'accept' | 'reject' | 'edit' | 'skip' | 'tag' | 'adjudicate'
    reason         VARCHAR,                  -- reject reason code (or the adjudicated verdict's reason)
    note           VARCHAR,
    tags_json      VARCHAR NOT NULL DEFAULT '[]',
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX review_decisions_doc ON review_decisions (run, doc_id);

-- Edited texts. Version 0 is the run's own text and is never copied here; each edit adds version n+1.
CREATE TABLE review_doc_versions (
    run          VARCHAR NOT NULL,
    doc_id       VARCHAR NOT NULL,
    version      INTEGER NOT NULL,
    base_version INTEGER NOT NULL,
    text         VARCHAR NOT NULL,
    author       VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (run, doc_id, version)
);

-- Work assignment by admins; an unassigned reviewer sees the whole run.
CREATE TABLE review_assignments (
    seq         BIGINT NOT NULL DEFAULT nextval('review_event_seq'),
    run         VARCHAR NOT NULL,
    doc_id      VARCHAR NOT NULL,
    reviewer    VARCHAR NOT NULL,
    assigned_by VARCHAR NOT NULL,
    overlap     BOOLEAN NOT NULL,            -- part of the agreement sample (assigned to >= 2 reviewers)
    created_at  TIMESTAMP NOT NULL
);

-- Who did what outside decisions: logins (and failed ones), assignments, exports, account creation.
CREATE TABLE review_audit (
    seq         BIGINT NOT NULL DEFAULT nextval('review_event_seq'),
    occurred_at TIMESTAMP NOT NULL,
    actor       VARCHAR NOT NULL,
    event       VARCHAR NOT NULL,
    detail_json VARCHAR NOT NULL DEFAULT '{}'
);
