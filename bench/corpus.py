"""Benchmark `jaroberta corpus build`: throughput (MB/s) and peak memory, text and Parquet inputs, 1 and 2 workers.

    .venv/bin/python bench/corpus.py --size-mb 1000      # the issue's 1 GB run
    .venv/bin/python bench/corpus.py --size-mb 50        # a quick check

Generates a CC-100-format file of realistic Japanese (sentences recombined from built-in
clauses, so nearly all are distinct, like real text) with duplicates, markup, control
characters, full-width ASCII and English lines mixed in, converts the same documents to
Parquet (one row per document, a `text` column, snappy, as Hugging Face datasets ship), then
runs the real command in a fresh process per input format and worker count. MB/s is MB of
text per second for both formats (the Parquet file is smaller on disk), and the ratio of
Parquet to text is printed (goal: at least 0.8). Peak RSS is measured over the whole process
tree (the main process plus its workers), by polling /proc, and as the largest single
process (getrusage RUSAGE_CHILDREN of a fresh wrapper process per run). The budget is 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

SUBJECTS = ["私は", "彼は", "彼女は", "学生たちは", "会社は", "政府は", "子供たちは", "医師は", "研究者は", "この町は",
            "東京の人々は", "新しいシステムは", "その店は", "多くの利用者は", "委員会は", "祖母は"]
OBJECTS = ["新しい本を", "駅前の店で昼ご飯を", "来年の計画を", "古い写真を", "地域の課題を", "患者の症状を",
           "データの傾向を", "桜の写真を", "会議の資料を", "新製品の価格を", "川沿いの道を", "実験の結果を"]
VERBS = ["読んだ。", "食べた。", "発表した。", "調べている。", "話し合った。", "確認しました。", "見直す予定です。",
         "楽しみにしている。", "詳しく説明した。", "大切に保管している。", "ゆっくり歩いた。", "分析しました。"]
PLACES = ["東京で", "大阪の", "京都の寺で", "北海道で", "駅の近くで", "図書館で", "病院で", "公園で", "会議室で", "海外で",
          "自宅で", "工場で", "大学で", "山の上で", "市役所で", "港で", "", "", "", ""]
ADVERBS = ["丁寧に", "急いで", "静かに", "改めて", "何度も", "初めて", "一緒に", "", "", "", "", "少しずつ"]
CONNECTORS = ["昨日、", "毎朝、", "その後、", "しかし、", "週末に", "久しぶりに", "", "", "", "ついに", "今年も"]
NOISE = ["<div class=\"ad\">広告</div>", "&nbsp;&amp; 詳しくはこちら", "Click here to subscribe to our newsletter.",
         "Copyright (c) 2024 All rights reserved.", "ＦＵＬＬ－ＷＩＤＴＨ　ｔｅｘｔ です。", "\u200b見えない文字\ufeffです。",
         "[[リンク|内部リンク]]の説明です。", "★★★★★", "http://example.com/path?query=1"]


def sentence(rng: random.Random) -> str:
    number = f"{rng.randrange(1, 3000)}年に" if rng.random() < 0.5 else ""
    return (rng.choice(CONNECTORS) + number + rng.choice(PLACES) + rng.choice(SUBJECTS) + rng.choice(ADVERBS)
            + rng.choice(OBJECTS) + rng.choice(VERBS))


def generate(path: Path, size_mb: float, seed: int = 0) -> None:
    """Write about size_mb MB of CC-100-format text."""
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    recent: list[str] = []
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            if recent and rng.random() < 0.03:  # an exact duplicate document
                document = rng.choice(recent)
            else:
                lines = []
                for _ in range(rng.randrange(1, 9)):
                    roll = rng.random()
                    if roll < 0.05:
                        lines.append(rng.choice(NOISE))
                    else:  # a line of 1-4 sentences, as in CC-100 paragraphs
                        lines.append("".join(sentence(rng) for _ in range(rng.randrange(1, 5))))
                document = "\n".join(lines) + "\n\n"
                if len(recent) < 1000:
                    recent.append(document)
                else:
                    recent[rng.randrange(1000)] = document
            handle.write(document)
            written += len(document.encode("utf-8"))


def to_parquet(text_file: Path, parquet_file: Path, rows_per_group: int = 50_000) -> None:
    """The documents of a CC-100-format file as Parquet rows (lines joined by newlines), streamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.string())])
    rows: list[str] = []
    lines: list[str] = []
    with open(text_file, encoding="utf-8") as source, pq.ParquetWriter(parquet_file, schema, compression="snappy") as writer:
        for line in source:
            if line != "\n":
                lines.append(line.rstrip("\n"))
                continue
            if lines:
                rows.append("\n".join(lines))
                lines = []
            if len(rows) == rows_per_group:
                writer.write_table(pa.table({"text": rows}, schema=schema))
                rows = []
        if lines:
            rows.append("\n".join(lines))
        if rows:
            writer.write_table(pa.table({"text": rows}, schema=schema))


# Runs the build and reports the largest RSS of any process it waited for (itself, its workers).
_WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print('maxrss_kib=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); sys.exit(code)")


def tree_rss_bytes(pid: int) -> int:
    """Summed RSS of `pid` and its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as handle:
                stack.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run(fmt: str, input_file: Path, out: Path, workers: int, text_bytes: int) -> dict:
    """One build in a fresh process; returns seconds, MB/s of text and peak memory."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "jaroberta", "corpus", "build", str(input_file),
               str(out), "--workers", str(workers), "--no-progress"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_tree = 0
    while process.poll() is None:
        peak_tree = max(peak_tree, tree_rss_bytes(process.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"jaroberta corpus build failed:\n{output}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    output, _, largest = output.rpartition("maxrss_kib=")  # KiB, the build and its reaped workers
    cpu = usage.ru_utime + usage.ru_stime - cpu_before  # CPU seconds of the build and its workers
    return {"format": fmt, "workers": workers, "seconds": seconds,
            "mb_per_s": text_bytes / 1e6 / seconds, "mb_per_cpu_s": text_bytes / 1e6 / cpu, "cpu_seconds": cpu,
            "peak_tree_mib": peak_tree / 2**20, "peak_process_mib": int(largest) / 1024, "report": output,
            "documents": json.loads((out / "report.json").read_text(encoding="utf-8"))["splits"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="size of the generated input in MB (default: 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run (default: 1 2)")
    parser.add_argument("--formats", nargs="+", default=["text", "parquet"], choices=["text", "parquet"],
                        help="input formats to run (default: text parquet)")
    parser.add_argument("--dir", type=Path, default=Path("bench/out/corpus"), help="scratch folder (default: bench/out/corpus)")
    parser.add_argument("--keep", action="store_true", help="keep the generated input and corpora")
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    input_file = args.dir / f"cc100-like-{args.size_mb:g}mb.txt"
    if not input_file.exists():
        started = time.perf_counter()
        generate(input_file, args.size_mb)
        print(f"generated {input_file} ({input_file.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    inputs = {"text": input_file}
    if "parquet" in args.formats:
        inputs["parquet"] = input_file.with_suffix(".parquet")
        if not inputs["parquet"].exists():
            started = time.perf_counter()
            to_parquet(input_file, inputs["parquet"])
            print(f"converted to {inputs['parquet']} ({inputs['parquet'].stat().st_size / 1e6:.1f} MB) "
                  f"in {time.perf_counter() - started:.1f} s")
    text_bytes = input_file.stat().st_size
    # text and Parquet side by side for each worker count, so both see the same machine load
    results = [run(fmt, inputs[fmt], args.dir / f"corpus-{fmt}-w{workers}", workers, text_bytes)
               for workers in args.workers for fmt in args.formats]
    print(results[-1]["report"])
    print(f"input: {text_bytes / 1e6:.1f} MB of CC-100-format text"
          + (f", as Parquet {inputs['parquet'].stat().st_size / 1e6:.1f} MB" if "parquet" in inputs else "")
          + f"; {os.cpu_count()} CPUs")
    # CPU seconds show the cost where the machine is shared and wall time is noisy
    print(f"{'format':>8}{'workers':>8}{'seconds':>10}{'MB/s':>8}{'CPU s':>8}{'MB/CPU s':>10}"
          f"{'peak RSS tree (MiB)':>22}{'largest process (MiB)':>24}")
    for r in results:
        print(f"{r['format']:>8}{r['workers']:>8}{r['seconds']:>10.1f}{r['mb_per_s']:>8.2f}{r['cpu_seconds']:>8.1f}"
              f"{r['mb_per_cpu_s']:>10.2f}{r['peak_tree_mib']:>22.0f}{r['peak_process_mib']:>24.0f}")
    by_key = {(r["format"], r["workers"]): r for r in results}
    for workers in args.workers:
        text, parquet = by_key.get(("text", workers)), by_key.get(("parquet", workers))
        if text and parquet:
            same = "same" if text["documents"] == parquet["documents"] else "DIFFERENT"
            print(f"{workers} worker(s): Parquet/text MB/s {parquet['mb_per_s'] / text['mb_per_s']:.2f}x "
                  f"(per CPU second {parquet['mb_per_cpu_s'] / text['mb_per_cpu_s']:.2f}x; goal >= 0.8x); {same} output counts")
    worst = max(r["peak_tree_mib"] for r in results)
    print(f"peak RSS {'within' if worst < 1024 else 'OVER'} the 1 GiB budget ({worst:.0f} MiB)")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
