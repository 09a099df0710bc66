-- Curation (issue #5). Bulk results live in files under runs/<run>/curation/<curation_id>/ (signals.parquet,
-- marks.parquet, curation.json); runs/<run>/curation/CURRENT names the one in force. This table is the
-- append-only history of curations, so a run's marks can always be traced to the config that made them.
-- Review decisions are NOT here: the review app's append-only `review_decisions` / `review_doc_versions`
-- tables (migration 0006) are what `msm snapshot create --require-review` reads.
CREATE TABLE curations (
    curation_id   VARCHAR PRIMARY KEY,      -- <UTC timestamp>-<config hash prefix>, also the directory name
    run           VARCHAR NOT NULL,
    config_hash   VARCHAR NOT NULL,         -- sha256 of the canonical JSON of the curation config
    config_json   VARCHAR NOT NULL,
    steps         VARCHAR NOT NULL,         -- e.g. 'dedup,filters'
    created_at    TIMESTAMP NOT NULL,
    n_documents   BIGINT NOT NULL,
    n_kept        BIGINT NOT NULL,
    n_dropped     BIGINT NOT NULL,
    path          VARCHAR NOT NULL          -- the curation directory
);
CREATE INDEX curations_run ON curations (run);
