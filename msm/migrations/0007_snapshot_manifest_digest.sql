-- The sha256 of each snapshot's manifest.json, recorded when the snapshot is created, so `msm snapshot verify` and
-- every stage that reads a snapshot can tell an edited manifest (its counts, provenance, or the file hashes it
-- lists) from the one that was frozen. Snapshots made before this column existed have NULL: verify says so and
-- checks their data against the manifest alone.
ALTER TABLE snapshots ADD COLUMN manifest_sha256 VARCHAR;
