"""The build report: what came in, what each rule did, what went out, and from where.

Written as `report.json` (machine-readable), `report.txt` (the table printed at the end of
`jaroberta corpus build`) and the manifest `corpus.json` (counts, sources with licenses,
options). Counts are summed over the completion markers of all inputs, so a resumed build
reports the whole corpus, not just the last run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jaroberta import __version__
from jaroberta.corpus import layout
from jaroberta.corpus.clean import RULES

# Reading problems: counter key -> how the table names it.
INPUT_PROBLEMS = {
    "input:skipped_files": "files skipped (empty, binary, UTF-16, unopenable, a Parquet file without its footer)",
    "input:read_errors": "files cut short by a read error or a truncated/corrupt archive (truncated: the text before the "
                         "break kept; corrupt: only the text its checks verified)",
    "input:corrupt_rejected_lines": "lines rejected from corrupt archives (decoded from a block, member or frame that failed its check)",
    "input:corrupt_rejected_bytes": "decoded bytes rejected from corrupt archives",
    "input:invalid_utf8_lines": "lines with invalid UTF-8",
    "input:nul_bytes": "NUL bytes removed",
    "input:long_lines": "lines over --max-line-bytes dropped",
    "input:documents_cut": "over-long documents cut at a line end",
    "input:bad_json_lines": "JSON lines that did not parse",
    "input:records_without_text": "JSON records without the text field",
    "input:null_rows": "table rows whose text is null (Parquet, datasets)",
    "input:damaged_row_groups": "Parquet row groups that did not decode, skipped (the file's other row groups read on)",
    "input:damaged_rows": "rows lost in those row groups",
    "input:tables_refused": "Parquet/Arrow files refused whole (no readable footer: truncated, or not a table), among the files skipped",
    "input:non_content_pages": "CirrusSearch pages outside the main namespace",
}


@dataclass
class CorpusReport:
    """Everything report.json holds."""

    splits: dict
    """Per split: documents, sentences, characters."""
    counts: dict
    """Every counter, summed over inputs ('rule:what' -> n)."""
    sources: list[dict]
    """Where the text came from: name, version, license."""
    problems: list[str]
    """One line per input that was skipped, cut short or gave nothing."""
    options: dict
    """The options that shape the output."""
    run: dict
    """Workers, shard, seconds, throughput, peak memory of this run."""
    notes: list[str] = field(default_factory=list)
    """Anything else a reader must know (e.g. a dev split made by the fallback)."""

    @property
    def documents(self) -> int:
        return sum(split["documents"] for split in self.splits.values())

    def rules(self) -> dict[str, dict]:
        """Per rule: its description and its counters."""
        table = {name: {"what": what} for name, what in RULES.items()}
        for key, value in self.counts.items():
            rule, _, what = key.partition(":")
            if rule in table:
                table[rule][what] = value
        return table

    def move_to_dev(self, document: list[str], copied: bool) -> None:
        sizes = {"documents": 1, "sentences": len(document), "characters": sum(map(len, document))}
        for what, n in sizes.items():
            self.splits["dev"][what] += n
            if not copied:
                self.splits["train"][what] -= n
        self.notes.append("dev was empty at --dev-fraction; the train document with the smallest digest was moved to dev")

    def to_json(self) -> dict:
        return {
            "format": layout.FORMAT_VERSION,
            "splits": self.splits,
            "rules": self.rules(),
            "input": {key.partition(":")[2]: self.counts.get(key, 0) for key in sorted(self.counts) if key.startswith("input:")},
            "problems": self.problems,
            "sources": self.sources,
            "options": self.options,
            "run": self.run,
            "notes": self.notes,
        }

    def write(self, out: Path) -> None:
        data = self.to_json()
        (out / layout.REPORT_JSON).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        (out / layout.REPORT_TXT).write_text(self.table() + "\n", encoding="utf-8")
        manifest = {
            "format": layout.FORMAT_VERSION,
            "created_by": f"jaroberta {__version__}",
            "splits": {name: {**counts, "files": sorted(p.name for p in (out / name).glob(f"*{layout.PART_SUFFIX}"))}
                       for name, counts in self.splits.items()},
            "sources": self.sources,
            "options": self.options,
            "shard": self.run["shard"],
            # a corpus made from damaged inputs says so where it is used, not only in the report
            "input_problems": {key.partition(":")[2]: self.counts[key] for key in INPUT_PROBLEMS if self.counts.get(key)},
            "problems": self.problems,
        }
        (out / layout.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    def table(self) -> str:
        """The readable report."""
        c = self.counts
        lines = [f"corpus: {self.run['out']}"]
        lines.append(f"  {'split':<8}{'documents':>12}{'sentences':>14}{'characters':>16}")
        for name, split in self.splits.items():
            lines.append(f"  {name:<8}{split['documents']:>12,}{split['sentences']:>14,}{split['characters']:>16,}")
        lines.append(
            f"input: {c.get('input:files', 0):,} files, {c.get('input:bytes', 0) / 1e6:,.1f} MB on disk, "
            f"{c.get('input:documents', 0):,} documents, {c.get('input:lines', 0):,} lines"
        )
        for key, what in INPUT_PROBLEMS.items():
            if c.get(key):
                lines.append(f"  {what}: {c[key]:,}")
        lines.append("rules (in order):")
        for name, info in self.rules().items():
            numbers = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in info.items() if k != "what")
            lines.append(f"  {name:<21} {numbers or '-'}")
        if c.get("output:empty_documents"):
            lines.append(f"  documents left empty by the rules: {c['output:empty_documents']:,}")
        lines.append("sources:")
        for source in self.sources[:20]:
            version = f" {source['version']}" if source.get("version") else ""
            origin = f"  ({source['origin']})" if source.get("origin") else ""
            lines.append(f"  {source['name']}{version}  license: {source.get('license', 'unknown')}{origin}")
        if len(self.sources) > 20:
            lines.append(f"  ... and {len(self.sources) - 20} more (corpus.json lists all)")
        for problem in self.problems:
            lines.append(f"problem: {problem}")
        for note in self.notes:
            lines.append(f"note: {note}")
        run = self.run
        lines.append(
            f"run: {run['seconds']:.1f} s, {run['mb_per_s']:.2f} MB/s, {run['workers']} worker(s), "
            f"shard {run['shard']}, peak RSS of this process {run['peak_rss_mb']:.0f} MB"
        )
        return "\n".join(lines)
