"""`msm snapshot`: freeze the kept (or review-accepted) documents of curated runs as immutable, hashed Parquet with a
manifest; training reads only snapshots that re-hash to their manifest."""
