"""datatrove's Gopher quality, Gopher repetition, FineWeb and C4 filters (default settings) over a run's documents:
the baseline of msm's full curation. Prints one JSON line: documents, filter seconds (process CPU and wall,
imports and spaCy's start excluded), kept.

    .venv/bin/python benchmarks/datatrove_filters.py DOCUMENTS.jsonl [--skip K] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time

from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--skip", type=int, default=0, help="documents to leave out at the start")
    args = parser.parse_args()
    texts = []
    with open(args.documents, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number < args.skip:
                continue
            texts.append(json.loads(line)["text"])
            if args.limit and len(texts) >= args.limit:
                break
    filters = [GopherQualityFilter(), GopherRepetitionFilter(), FineWebQualityFilter(), C4QualityFilter()]
    for f in filters:                      # load the tokenizer and sentencizer once, outside the timing
        f.filter(Document(text="Warm up the tokenizer. It has to load once. Then it is fast.", id="warm"))
    wall, cpu = time.perf_counter(), time.process_time()
    kept = 0
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        kept += all(f.filter(doc) is True for f in filters)   # stops at the first filter that drops, as a pipeline does
    print(json.dumps({"documents": len(texts), "wall_s": time.perf_counter() - wall,
                      "cpu_s": time.process_time() - cpu, "kept": kept}))


if __name__ == "__main__":
    main()
