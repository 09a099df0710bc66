-- Workspace catalog, version 1: what exists in this workspace and where its files are.
-- Bulk data (documents, signals, snapshots, model weights) lives in files under the workspace;
-- the catalog indexes them so `list` / `show` commands and the review app can query one place.
CREATE TABLE runs (
    name        VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,          -- 'generated' | 'imported'
    spec_id     VARCHAR,
    spec_hash   VARCHAR,
    created_at  TIMESTAMP NOT NULL,
    config_json VARCHAR NOT NULL           -- the settings the run was started with (JSON)
);

CREATE TABLE snapshots (
    name          VARCHAR PRIMARY KEY,
    content_hash  VARCHAR NOT NULL,
    n_documents   BIGINT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    manifest_path VARCHAR NOT NULL
);

CREATE TABLE models (
    name          VARCHAR PRIMARY KEY,
    stage         VARCHAR NOT NULL,        -- 'pulled' | 'midtrain' | 'sft'
    path          VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    manifest_json VARCHAR NOT NULL
);
