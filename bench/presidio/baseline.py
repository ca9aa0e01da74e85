#!/usr/bin/env python3
"""Presidio baseline for the masking benchmark (see BENCHMARKS.md, "Masking engine").

Analyzes the same sample rows as `crates/gatehouse-mask/benches/mask.rs` (bench/presidio/
rows.tsv, one analyze call per column value, as a gateway masking per value would) and the
same 1 MiB text built from their notes, and prints ms/row and MB/s.

Presidio runs with its default predefined recognizers and a *blank* English spaCy pipeline
(tokenizer only: the trained spaCy models cannot be downloaded here), so only its pattern,
checksum and phone-number recognizers do work. That is the cheapest Presidio configuration,
so the comparison favours Presidio.

    bench/presidio/run.sh            # sets up the venv, then runs this
"""

import argparse
import os
import statistics
import sys
import time

import spacy
import tldextract.tldextract
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

HERE = os.path.dirname(os.path.abspath(__file__))
LARGE_TEXT_BYTES = 1 << 20


def blank_pipeline(directory):
    if not os.path.exists(os.path.join(directory, "config.cfg")):
        spacy.blank("en").to_disk(directory)
    return directory


def analyzer(model_dir):
    # Presidio's email recognizer asks tldextract for domain suffixes, which by default
    # downloads the public suffix list; use the snapshot bundled with tldextract instead.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model_dir}],
    })
    engine = provider.create_engine()
    for nlp in engine.nlp.values():
        nlp.max_length = 4 * LARGE_TEXT_BYTES
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def load_rows():
    with open(os.path.join(HERE, "rows.tsv"), encoding="utf-8") as rows:
        lines = rows.read().splitlines()
    return [line.split("\t") for line in lines[1:]]


def large_text(rows):
    """The notes of all rows joined by spaces, repeated up to 1 MiB (as in benches/mask.rs)."""
    block = " ".join(row[7] for row in rows)
    text = ""
    while len(text.encode()) < LARGE_TEXT_BYTES:
        text += block + " "
    return text.encode()[:LARGE_TEXT_BYTES].decode("utf-8", "ignore")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300, help="rows per timed pass")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--model-dir", default="/root/.cache/presidio-venv/blank-en")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()

    engine = analyzer(blank_pipeline(args.model_dir))
    rows = load_rows()
    for row in rows[:50]:  # warm up: lazy compilation of recognizers' regexes
        for value in row:
            engine.analyze(text=value, language="en")

    per_row = []
    found = 0
    for _ in range(args.passes):
        start = time.perf_counter()
        for row in rows[:args.rows]:
            for value in row:
                found += len(engine.analyze(text=value, language="en"))
        per_row.append((time.perf_counter() - start) * 1000 / args.rows)
    print(f"presidio typical rows: {statistics.median(per_row):.3f} ms/row "
          f"(median of {args.passes} passes of {args.rows} rows x 8 values; "
          f"{found // args.passes} findings per pass)")

    if not args.skip_large:
        text = large_text(rows)
        start = time.perf_counter()
        results = engine.analyze(text=text, language="en")
        seconds = time.perf_counter() - start
        print(f"presidio 1 MiB text: {len(text.encode()) / seconds / (1 << 20):.3f} MiB/s "
              f"({seconds:.2f} s, {len(results)} findings)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
