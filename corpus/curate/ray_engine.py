"""`msm curate --engine ray`: the curation steps as Ray Data tasks over Parquet shards of the documents.

`RayEngine` implements `engine.CurationEngine`. The steps are the local engine's own batch functions
(`steps.signals_step`, `SignatureComputer`,
`dedup.bucket_candidate_pairs`, `dedup.pair_similarity`, `dedup.representatives`); this module only moves
records between them:

1. one pass over the documents (`map_batches`, DOCS_PER_BATCH per task): `signals_step` (DuckDB, one thread per
   task) and, for dedup, signatures with datasketch's permutations (same seed, scheme, shingles and hash as
   local), materialized in the object store. The signal rows stream back to the driver, which assembles marks
   exactly as the local engine does.
2. exact keys come back to the driver (one per document), which finds the first document of each key and
   broadcasts which documents go into LSH (a bitmap).
3. LSH buckets: one row per (document, band) with a stable 64-bit band key (`dedup.band_keys`, numpy, never
   Python's `hash()`), hash-partitioned by (band, key) into `partitions` groups (column `part`) and shuffled
   to them by Ray Data's groupby (`--ray-shuffle`: Ray's sort or hash shuffle); each group holds whole buckets,
   so `bucket_candidate_pairs` caps oversized buckets exactly as locally (`max_bucket_neighbours`).
4. verification: a join by two shuffles — signatures and pair ends meet by document, then the two
   signatures of a pair meet by pair — and `pair_similarity >= threshold`.
5. union-find, distributed: connected components of verified and exact-duplicate links by alternating
   large-star / small-star rounds (Kiveris et al. 2014, "Connected Components in MapReduce and Beyond"), each
   a shuffle hash-partitioned by node, until a round changes no edge; every component ends as a star around its smallest
   document. Only clustered documents' roots come back to the driver for `representatives`.

Where the data lives: the driver writes the shards under the run's curation directory; on a cluster that
directory must be on a filesystem every node mounts at the same path, or `--ray-scratch` names an object-store
URI (`s3://bucket/prefix`, anything `pyarrow.fs` opens) the shards are uploaded to. Every later step moves
through Ray's object store, and results come back to the driver, which writes the curation files.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
import uuid
from typing import Iterator

import duckdb

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from msm.corpus.curate.config import DedupSettings
from msm.corpus.curate.dedup import (DedupResult, band_keys, bucket_candidate_pairs, dedup_stats, exact_duplicate_groups,
                              lsh_parameters, minhash_permutations, pair_similarity, representatives)
from msm.corpus.curate.minhash import SignatureComputer
from msm.corpus.curate.steps import SignalInputs, signals_step, sql_path, write_document_shards
from msm.corpus.curate.store import curation_root
from msm.corpus.run_store import RunStore
from msm.errors import MsmError

SHUFFLES = {"sort": "sort_shuffle_pull_based", "hash": "hash_shuffle"}   # --ray-shuffle -> Ray's ShuffleStrategy
DOCS_PER_BATCH = 1000
SIGNATURE_COLUMNS = ("exact_key", "has_words", "signature")
# Band rows per shuffle group, on average (48 bytes each at 4 rows per band): bounds a reducer's memory.
_ROWS_PER_PARTITION = 2_000_000


class RayEngine:
    """A Ray session (joined or started) and the document shards it reads. A context manager: leaving it shuts
    down a Ray it started and removes the shards (and an uploaded scratch copy)."""

    name = "ray"

    def __init__(self, store: RunStore, address: str | None = None, scratch: str | None = None,
                 shuffle: str = "sort"):
        self.store = store
        self.work_dir = curation_root(store.ws, store.name) / f".ray-{uuid.uuid4().hex[:12]}"
        self.local_shards = self.work_dir / "documents"
        self.n_docs = 0
        self.address = address
        self.scratch = scratch
        if shuffle not in SHUFFLES:
            raise MsmError(f"--ray-shuffle: {shuffle!r} is not one of {', '.join(SHUFFLES)}")
        self.shuffle = shuffle
        self.started_ray = False
        self.ray_entered = False
        self.document_rows = self.signature_settings = None
        self.seconds_per_document_pass = 0.0
        self.scratch_cleanup = None

    def __enter__(self) -> "RayEngine":
        from msm.cli_support import require_extra

        require_extra("scale", "--engine ray", "ray")  # before any shard is written
        return self

    def load(self, con: duckdb.DuckDBPyConnection) -> int:
        """The run's documents as Parquet shards the workers read (a view `docs` over them for the driver), then a
        Ray session to read them with."""
        self.n_docs = write_document_shards(self.store, self.local_shards)
        if self.n_docs:
            con.execute(f"CREATE VIEW docs AS SELECT * FROM read_parquet('{sql_path(self.local_shards)}/*.parquet')")
            self._start_ray()
        return self.n_docs

    def _start_ray(self) -> None:
        import ray
        import ray.data
        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
            self.started_ray = True
        elif self.address:
            raise MsmError("--ray-address: this process is already connected to a Ray cluster")
        from ray.data.context import ShuffleStrategy

        context = ray.data.DataContext.get_current()
        self.saved_context = (context.shuffle_strategy, context.enable_progress_bars, context.print_on_execution_start)
        self.ray_entered = True
        # Groups are already hash partitions (`part` = a stable hash % partitions); Ray only moves them. Its
        # pull-based shuffle does that in tasks; HASH_SHUFFLE starts aggregator actors for every shuffle, which
        # costs seconds per shuffle on a small cluster (benchmarks/bench_ray_curation.py measures both).
        context.shuffle_strategy = ShuffleStrategy(SHUFFLES[self.shuffle])
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.partitions = max(2, 2 * cpus)
        names = sorted(p.name for p in self.local_shards.glob("part-*.parquet"))
        base = self._upload(self.scratch) if self.scratch else str(self.local_shards)  # __exit__ cleans up on failure
        self.shard_paths = [f"{base}/{name}" for name in names]

    def __exit__(self, *exc: object) -> None:
        try:
            if self.ray_entered:
                self._stop_ray()
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _stop_ray(self) -> None:
        import ray
        import ray.data

        self.ray_entered = False
        if self.scratch_cleanup:
            self.scratch_cleanup()
        context = ray.data.DataContext.get_current()
        context.shuffle_strategy, context.enable_progress_bars, context.print_on_execution_start = self.saved_context
        if self.started_ray:
            ray.shutdown()

    def _upload(self, scratch: str) -> str:
        import pyarrow.fs as pafs

        filesystem, base = pafs.FileSystem.from_uri(scratch)
        target = f"{base.rstrip('/')}/msm-curation-{uuid.uuid4().hex[:12]}"
        filesystem.create_dir(target, recursive=True)
        pafs.copy_files(str(self.local_shards), target, destination_filesystem=filesystem)
        self.scratch_cleanup = lambda: filesystem.delete_dir(target)
        return scratch.split("://", 1)[0] + "://" + target if "://" in scratch else target

    def _read(self, rows_per_block: int):
        import ray.data

        # One task per shard reads it with pyarrow (a path or an object-store URI). ray.data.read_parquet spent
        # 5-13 s listing one local directory per call here, longer than the whole local curation of 3k documents.
        shards = ray.data.from_items([{"path": path} for path in self.shard_paths])
        documents = shards.map_batches(_read_shards, batch_format="pyarrow", batch_size=1)
        # A shard is one block and a block is one task: split it, or one CPU does all of a shard's batches.
        return documents.repartition(target_num_rows_per_block=rows_per_block)

    # ---- filters ---------------------------------------------------------------------------------------------
    def signal_batches(self, inputs: SignalInputs | None, dedup: DedupSettings | None) -> Iterator[pa.Table]:
        """Signal + rule-mark rows of every document, in batches. With `dedup` settings the same pass over the
        documents also computes their signatures (one read of the texts), kept in the object store for
        `find_duplicates`."""
        started = time.perf_counter()
        signature_kwargs = None
        if dedup is not None:
            permutations = minhash_permutations(dedup.num_perm, dedup.seed, dedup.hash_scheme)
            signature_kwargs = {"shingle_words": dedup.shingle_words, "width": 32 if dedup.hash_scheme == "affine32" else 64,
                                "permutations": np.asarray(permutations)}
        rows = self._read(DOCS_PER_BATCH).map_batches(
            _document_rows, batch_format="pyarrow", batch_size=DOCS_PER_BATCH, zero_copy_batch=True,
            fn_kwargs={"inputs": inputs, "signature_kwargs": signature_kwargs}).materialize()
        self.document_rows, self.signature_settings = rows, dedup
        self.seconds_per_document_pass = time.perf_counter() - started
        yield from rows.drop_columns(list(SIGNATURE_COLUMNS)).iter_batches(batch_format="pyarrow", batch_size=None) \
            if dedup is not None else rows.iter_batches(batch_format="pyarrow", batch_size=None)

    # ---- dedup -----------------------------------------------------------------------------------------------
    def find_duplicates(self, settings: DedupSettings, rank: np.ndarray) -> DedupResult:
        if settings != self.signature_settings:
            raise RuntimeError("find_duplicates: signal_batches ran with other dedup settings")
        started = time.perf_counter()
        n_docs = self.n_docs
        width = 32 if settings.hash_scheme == "affine32" else 64
        bands, rows = lsh_parameters(settings.threshold, settings.num_perm, settings.lsh_weights)
        parts = max(self.partitions, math.ceil(n_docs * bands / _ROWS_PER_PARTITION))

        signatures = self.document_rows.select_columns(["doc_idx", *SIGNATURE_COLUMNS])
        seconds: dict[str, float] = {}
        exact_keys = np.empty(n_docs, dtype=object)
        has_words = np.zeros(n_docs, dtype=bool)
        for batch in signatures.select_columns(["doc_idx", "exact_key", "has_words"]).iter_batches(
                batch_format="pyarrow", batch_size=None):
            index = batch.column("doc_idx").to_numpy()
            exact_keys[index] = batch.column("exact_key").to_numpy(zero_copy_only=False)
            has_words[index] = batch.column("has_words").to_numpy(zero_copy_only=False)
        first, indexed = exact_duplicate_groups(exact_keys, has_words)
        exact_members = np.flatnonzero(first != np.arange(n_docs))
        indexed_bits = np.packbits(indexed)

        band_rows = signatures.map_batches(_band_rows, batch_format="pyarrow", batch_size=None,
                                           fn_kwargs={"indexed_bits": indexed_bits, "bands": bands, "rows": rows,
                                                      "parts": parts})
        pairs = band_rows.groupby("part", num_partitions=parts).map_groups(
            _bucket_pairs, batch_format="pyarrow",
            fn_kwargs={"max_neighbours": settings.max_bucket_neighbours}).materialize()
        capped_buckets, n_candidate_rows = _sentinel_total(pairs)
        seconds["exact_keys_and_buckets"] = time.perf_counter() - started - sum(seconds.values())

        links = [pa.table({"a": first[exact_members], "b": exact_members.astype(np.int64)})]
        n_candidates = verified = 0
        if n_candidate_rows:
            ends = pairs.map_batches(_pair_end_rows, batch_format="pyarrow", batch_size=None,
                                     fn_kwargs={"parts": parts})
            value_type = pa.uint32() if width == 32 else pa.uint64()
            ends = ends.map_batches(_null_signatures, batch_format="pyarrow", batch_size=None,
                                    fn_kwargs={"value_type": value_type})
            sigs = signatures.map_batches(_signature_end_rows, batch_format="pyarrow", batch_size=None,
                                          fn_kwargs={"indexed_bits": indexed_bits, "parts": parts,
                                                     "value_type": value_type})
            met = sigs.union(ends).groupby("part", num_partitions=parts).map_groups(
                _attach_signatures, batch_format="pyarrow", fn_kwargs={"parts": parts})
            checked = met.groupby("part", num_partitions=parts).map_groups(
                _verify_pairs, batch_format="pyarrow", fn_kwargs={"threshold": settings.threshold}).materialize()
            n_candidates, _ = _sentinel_total(checked)
            verified_links = _real_rows(checked)
            verified = len(verified_links)
            links.append(verified_links)
        edges = pa.concat_tables(links)
        seconds["verification"] = time.perf_counter() - started - sum(seconds.values())
        roots = np.arange(n_docs, dtype=np.int64)
        rounds = 0
        if len(edges):
            leaf, root, rounds = connected_components(edges, parts)
            roots[leaf] = root
        seconds["components"] = time.perf_counter() - started - sum(seconds.values())
        cluster_of, kind, n_clusters = representatives(roots, np.asarray(rank), exact_keys)
        stats = dedup_stats(n_docs, len(exact_members), n_candidates, verified, n_clusters, kind, bands, rows,
                            capped_buckets, time.perf_counter() - started)
        seconds["dedup_total"] = time.perf_counter() - started
        seconds["signals_and_signatures_pass"] = self.seconds_per_document_pass
        stats.update(ray_partitions=parts, ray_component_rounds=rounds,
                     ray_seconds={k: round(v, 3) for k, v in seconds.items()})
        return DedupResult(exact_keys.tolist(), cluster_of, kind, stats)


def connected_components(edges: pa.Table, parts: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(node, root, rounds) for every node of an undirected graph given as rows (a, b), root the smallest node of
    its component: alternating large-star and small-star rounds on Ray until neither changes an edge."""
    import ray.data

    a, b = edges.column("a").to_numpy(), edges.column("b").to_numpy()
    current = ray.data.from_arrow(pa.table({"a": np.maximum(a, b), "b": np.minimum(a, b)}))
    rounds = 0
    while True:
        rounds += 1
        large = current.map_batches(_both_directions, batch_format="pyarrow", batch_size=None,
                                    fn_kwargs={"parts": parts}).groupby("part", num_partitions=parts).map_groups(
            _large_star, batch_format="pyarrow").materialize()
        small = large.map_batches(_towards_smaller, batch_format="pyarrow", batch_size=None,
                                  fn_kwargs={"parts": parts}).groupby("part", num_partitions=parts).map_groups(
            _small_star, batch_format="pyarrow").materialize()
        changed = (large.sum("changed") or 0) + (small.sum("changed") or 0)
        current = small
        if not changed:
            break
    leaves, roots = [], []
    for batch in current.iter_batches(batch_format="pyarrow", batch_size=None):
        leaves.append(batch.column("a").to_numpy())
        roots.append(batch.column("b").to_numpy())
    return np.concatenate(leaves), np.concatenate(roots), rounds


# ---- the functions Ray runs on a batch or a shuffle group (module level, so workers import them) --------------

def _read_shards(batch: pa.Table) -> pa.Table:
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(path) for path in batch.column("path").to_pylist()])


def _document_rows(batch: pa.Table, inputs: SignalInputs | None, signature_kwargs: dict | None) -> pa.Table:
    """One row per document: `signals_step`'s columns, then (for dedup) exact key, has_words and signature."""
    batch = batch.sort_by("doc_idx")
    # without filters (inputs None) no signal is computed, only the signatures
    signals = signals_step(batch, inputs, threads=1) if inputs is not None else batch.select(["doc_idx"])
    if signature_kwargs is None:
        return signals
    keys, signatures = SignatureComputer(signature_kwargs["shingle_words"], signature_kwargs["width"],
                                         signature_kwargs["permutations"])(
        [d if d is not None else t for d, t in zip(batch.column("dedup_text").to_pylist(),
                                                   batch.column("text").to_pylist())])
    empty = np.iinfo(signatures.dtype).max
    return (signals.append_column("exact_key", pa.array(keys, pa.string()))
            .append_column("has_words", pa.array(~(signatures == empty).all(axis=1)))
            .append_column("signature", _matrix_column(signatures)))


def _matrix_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(matrix).reshape(-1)), matrix.shape[1])


def _matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.flatten().to_numpy().reshape(len(array), array.type.list_size)


def _is_indexed(doc_idx: np.ndarray, indexed_bits: np.ndarray) -> np.ndarray:
    return np.unpackbits(indexed_bits, count=None)[doc_idx].astype(bool)


def _band_rows(batch: pa.Table, indexed_bits: np.ndarray, bands: int, rows: int, parts: int) -> pa.Table:
    doc_idx = batch.column("doc_idx").to_numpy()
    keep = _is_indexed(doc_idx, indexed_bits)
    doc_idx, signatures = doc_idx[keep], _matrix(batch.column("signature"))[keep]
    tables = []
    for band in range(bands):
        values = signatures[:, band * rows:(band + 1) * rows]
        keys = band_keys(values)
        part = ((keys + np.uint64(band)) % np.uint64(parts)).astype(np.int64)
        tables.append(pa.table({"part": part, "band": np.full(len(keys), band, dtype=np.int64), "key": keys,
                                "doc_idx": doc_idx, "values": _matrix_column(values)}))
    return pa.concat_tables(tables)


def _sentinel(value: int) -> pa.Table:
    # A reducer's counter travels as one row with a = -1 beside its real rows.
    return pa.table({"a": np.array([-1], dtype=np.int64), "b": np.array([value], dtype=np.int64)})


def _sentinel_total(dataset) -> tuple[int, int]:
    """(sum of the counters, number of real rows) of a materialized dataset of (a, b) rows."""
    total = real = 0
    for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        is_counter = pc.less(batch.column("a"), 0)
        total += int(pc.sum(pc.filter(batch.column("b"), is_counter)).as_py() or 0)
        real += batch.num_rows - int(pc.sum(is_counter).as_py() or 0)
    return total, real


def _real_rows(dataset) -> pa.Table:
    tables = [batch.filter(pc.greater_equal(batch.column("a"), 0)).select(["a", "b"])
              for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None)]
    return pa.concat_tables(tables) if tables else pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})


def _bucket_pairs(group: pa.Table, max_neighbours: int) -> pa.Table:
    pairs, capped = bucket_candidate_pairs(group.column("band").to_numpy(), group.column("key").to_numpy(),
                                           group.column("doc_idx").to_numpy(), _matrix(group.column("values")),
                                           max_neighbours)
    return pa.concat_tables([pa.table({"a": pairs[:, 0], "b": pairs[:, 1]}), _sentinel(capped)])


def _end_schema(list_type: pa.DataType) -> pa.Schema:
    return pa.schema([("part", pa.int64()), ("node", pa.int64()), ("peer", pa.int64()), ("signature", list_type)])


def _pair_end_rows(batch: pa.Table, parts: int) -> pa.Table:
    real = batch.filter(pc.greater_equal(batch.column("a"), 0))
    a, b = real.column("a").to_numpy(), real.column("b").to_numpy()
    node, peer = np.concatenate((a, b)), np.concatenate((b, a))
    return pa.table({"part": node % parts, "node": node, "peer": peer})


def _null_signatures(batch: pa.Table, value_type: pa.DataType) -> pa.Table:
    # pair ends carry no signature; the column makes their schema the signature rows' for the union
    return batch.append_column("signature", pa.nulls(batch.num_rows, pa.list_(value_type)))


def _signature_end_rows(batch: pa.Table, indexed_bits: np.ndarray, parts: int, value_type: pa.DataType) -> pa.Table:
    doc_idx = batch.column("doc_idx").to_numpy()
    keep = _is_indexed(doc_idx, indexed_bits)
    signature = batch.column("signature").filter(pa.array(keep)).cast(pa.list_(value_type))
    return pa.table({"part": doc_idx[keep] % parts, "node": doc_idx[keep],
                     "peer": np.full(int(keep.sum()), -1, dtype=np.int64), "signature": signature})


def _attach_signatures(group: pa.Table, parts: int) -> pa.Table:
    """Signatures and pair ends of the same documents meet here: one row per distinct pair end with the
    signature of its document, keyed for the pair's own group."""
    node, peer = group.column("node").to_numpy(), group.column("peer").to_numpy()
    is_signature = peer < 0
    owners = node[is_signature]
    owner_order = np.argsort(owners)
    signature_column = group.column("signature").combine_chunks()
    codes = np.unique(np.stack((node[~is_signature], peer[~is_signature]), axis=1), axis=0)
    if not len(codes):
        return pa.table({"part": pa.array([], pa.int64()), "lo": pa.array([], pa.int64()), "hi": pa.array([], pa.int64()),
                         "side": pa.array([], pa.int64()), "signature": signature_column.slice(0, 0)})
    end_node, end_peer = codes[:, 0], codes[:, 1]
    signature_rows = np.flatnonzero(is_signature)[owner_order[np.searchsorted(owners[owner_order], end_node)]]
    lo, hi = np.minimum(end_node, end_peer), np.maximum(end_node, end_peer)
    return pa.table({"part": (lo * 1_000_003 + hi) % parts, "lo": lo, "hi": hi, "side": (end_node == hi).astype(np.int64),
                     "signature": signature_column.take(pa.array(signature_rows))})


def _verify_pairs(group: pa.Table, threshold: float) -> pa.Table:
    """Each distinct candidate pair arrives as two rows (side 0: lo's signature, side 1: hi's)."""
    lo, hi, side = (group.column(c).to_numpy() for c in ("lo", "hi", "side"))
    order = np.lexsort((side, hi, lo))
    signature = group.column("signature").combine_chunks().take(pa.array(order))
    values = signature.flatten().to_numpy().reshape(len(order), -1)
    lo, hi = lo[order][0::2], hi[order][0::2]
    keep = pair_similarity(values[0::2], values[1::2]) >= threshold
    return pa.concat_tables([pa.table({"a": lo[keep], "b": hi[keep]}), _sentinel(len(lo))])


def _both_directions(batch: pa.Table, parts: int) -> pa.Table:
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    node, neighbour = np.concatenate((a, b)), np.concatenate((b, a))
    return pa.table({"part": node % parts, "node": node, "neighbour": neighbour})


def _towards_smaller(batch: pa.Table, parts: int) -> pa.Table:
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()   # a > b
    return pa.table({"part": a % parts, "node": a, "neighbour": b})


def _per_node(group: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(node, neighbour) rows without repeats, sorted by node; start of each node's run; its neighbour minimum."""
    pairs = np.unique(np.stack((group.column("node").to_numpy(), group.column("neighbour").to_numpy()), axis=1), axis=0)
    node, neighbour = pairs[:, 0], pairs[:, 1]
    starts = np.flatnonzero(np.concatenate(([True], node[1:] != node[:-1])))
    smallest = np.repeat(np.minimum.reduceat(neighbour, starts), np.diff(np.concatenate((starts, [len(node)]))))
    return node, neighbour, starts, smallest


def _large_star(group: pa.Table) -> pa.Table:
    """Each node links its larger neighbours to the smallest of itself and its neighbours."""
    node, neighbour, _, smallest = _per_node(group)
    star = np.minimum(smallest, node)
    larger = neighbour > node
    return pa.table({"a": neighbour[larger], "b": star[larger], "changed": (star[larger] != node[larger]).astype(np.int64)})


def _small_star(group: pa.Table) -> pa.Table:
    """Each node links itself and its smaller neighbours (all it is given) to the smallest of them."""
    node, neighbour, starts, smallest = _per_node(group)
    sizes = np.diff(np.concatenate((starts, [len(node)])))
    several = np.repeat(sizes > 1, sizes)
    others = neighbour != smallest
    a = np.concatenate((node[starts], neighbour[others]))
    b = np.concatenate((smallest[starts], smallest[others]))
    changed = np.concatenate((sizes > 1, several[others])).astype(np.int64)
    return pa.table({"a": a, "b": b, "changed": changed})
