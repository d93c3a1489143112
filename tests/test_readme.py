"""README.md is run: every `jaroberta ...` line of its shell blocks runs on tiny inputs (or is
listed with the reason it cannot run here), and its Python blocks run on a tiny model.

The lines run in one working folder laid out as the README assumes: `demo/corpus`, `MODEL`,
`ja.txt.xz`, `texts.txt`, JGLUE-format files, a hub cache holding tiny models under the README's
hub ids (offline). Each line runs after the lines it needs (`NEEDS`), in-process through
`jaroberta.cli.main`; shell globs are expanded as bash would. `SHRINK` lists the only changes
to a line (step counts and vocabulary sizes sized for the tiny inputs, a hub commit for
COMMIT), each written out.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import lzma
import re
import shlex
import shutil
from pathlib import Path

import pytest
from conftest import JA_SENTENCES
from hub_cache import write_hub_cache
from layouts import MANBYO_FILE, jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.cli import build_parser, main
from jaroberta.corpus.layout import write_documents
from jaroberta.model.export import export_model

README = Path(__file__).resolve().parents[1] / "README.md"

# Shell lines of README's code blocks that are not jaroberta commands, each listed: nothing is skipped silently.
NOT_JAROBERTA = {
    "make demo   # set-up + the main job on the default corpus (rinna's family; about half an hour on 2 cores)",
    "make test   # set-up + the test suite (offline; prints the 10 slowest tests)",
    'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',  # the SLURM example's rendezvous host
    "git clone https://github.com/yahoojapan/JGLUE",  # the data `eval jglue` reads
}

# README lines that cannot run here, by how they start, with the reason (checked: they still parse).
CANNOT_RUN = {
    "jaroberta corpus build demo/corpus ": "the default corpus is downloaded with apt-get (the demo's regression test "
                                           "builds a corpus from a committed sample of it)",
    "jaroberta demo ": "the demo builds the default corpus with apt-get; its stages run in test_pretrain.py's demo test",
    "torchrun --nproc_per_node 8 ": "8 processes and a base-size model",
    "torchrun --nnodes 2 ": "two nodes",
    "srun torchrun ": "a SLURM cluster",
    "jaroberta serve ": "a server runs until stopped; test_serve*.py start it on a free port",
    "torchrun --nproc_per_node 2 -m jaroberta finetune ": "two processes: test_finetune_distributed.py runs it (slow)",
    # domain adaptation on the user's medical text: test_adapt.py runs it end to end on text it writes
    "jaroberta adapt ": "the user's domain text; test_adapt.py runs adapt end to end",
    "jaroberta tokenizer extend rinna/japanese-roberta-base medical-corpus ": "a medical corpus; test_extend.py",
    "jaroberta pack medical-corpus ": "a medical corpus; test_adapt.py packs one",
    "jaroberta pretrain shards-med ": "a medical corpus; test_extend.py grows a model on extended shards",
    # JGLUE's data is not redistributed here: test_finetune_qa_choice.py and test_jglue_eval.py write files in its formats
    "jaroberta finetune qa ": "JGLUE's JSQuAD; test_finetune_qa_choice.py",
    "jaroberta finetune choice ": "JGLUE's JCommonsenseQA; test_finetune_qa_choice.py",
    "jaroberta predict runs/jsquad/best ": "a JSQuAD model; test_finetune_qa_choice.py predicts with one",
    "jaroberta eval jglue ": "a JGLUE checkout; test_jglue_eval.py runs eval jglue on files in its formats",
}
# README lines that run, but slowly (fine-tuning on the 500 hironsan sentences, ~30 s): marked slow.
SLOW = ("jaroberta finetune ner MODEL runs/hironsan ", "jaroberta predict runs/hironsan/best ")
# What a line needs run before it (by how the needed line starts).
NEEDS = {
    "jaroberta tokenizer train demo/corpus tok --family jmedroberta ": ["jaroberta dict build "],
    "jaroberta tokenizer encode tok ": ["jaroberta tokenizer train demo/corpus tok --family jmedroberta "],
    "jaroberta tokenizer info tok": ["jaroberta tokenizer train demo/corpus tok --family jmedroberta "],
    "jaroberta pack demo/corpus tok-sp ": ["jaroberta tokenizer train demo/corpus tok-sp "],
    "jaroberta pretrain shards runs/tiny --preset tiny --steps 2000 --eval-every": ["jaroberta pack demo/corpus tok-sp "],
    "jaroberta pretrain shards runs/tiny --preset tiny --steps 2000 --resume": [
        "jaroberta pretrain shards runs/tiny --preset tiny --steps 2000 --eval-every"],
    "jaroberta export runs/tiny/model ": ["jaroberta pretrain shards runs/tiny --preset tiny --steps 2000 --eval-every"],
    "jaroberta predict runs/hironsan/best ": ["jaroberta finetune ner MODEL runs/hironsan "],
}
# The only changes made to a line: sizes for tiny inputs, and the hub commit for COMMIT.
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHRINK = [
    ("--steps 2000 --eval-every 200 --save-every 200", "--steps 4 --eval-every 2 --save-every 2"),
    ("--steps 2000 --resume", "--steps 6 --resume"),
    ("tok-sp --family rinna", "tok-sp --family rinna --vocab-size 300"),
    ("tok --family jmedroberta --user-dict med.dic", "tok --family jmedroberta --user-dict med.dic --vocab-size 300"),
    ("--revision COMMIT", f"--revision {COMMIT}"),
    ("runs/hironsan --dataset hironsan", "runs/hironsan --dataset hironsan --steps 4"),
]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _shell_lines() -> list[str]:
    """Each command of README's bash blocks: continuation lines joined, comment lines (and a
    script's #! and #SBATCH header) left out."""
    lines = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def _jaroberta_argv(line: str) -> list[str]:
    """The arguments after `jaroberta` (or `torchrun ... -m jaroberta`) on a README line."""
    words = shlex.split(line, comments=True)
    if words[:1] == ["srun"]:  # SLURM starts the launcher on every node
        words = words[1:]
    if words[:1] == ["jaroberta"]:
        return words[1:]
    if words[:1] == ["torchrun"] and "-m" in words and words[words.index("-m") + 1] == "jaroberta":
        return words[words.index("-m") + 2:]
    raise AssertionError(f"README line is neither a jaroberta command nor listed in NOT_JAROBERTA: {line!r}")


COMMANDS = [line for line in _shell_lines() if line not in NOT_JAROBERTA]


def _find(prefix: str) -> str:
    [line] = [line for line in COMMANDS if line.startswith(prefix)]
    return line


def _cannot_run(line: str) -> str | None:
    return next((why for prefix, why in CANNOT_RUN.items() if line.startswith(prefix)), None)


def _params(runnable_only: bool = False):
    for line in COMMANDS:
        if runnable_only and _cannot_run(line):
            continue  # listed in CANNOT_RUN with its reason; it still parses (test_readme_command_parses)
        marks = [pytest.mark.slow] if line.startswith(SLOW) else []
        yield pytest.param(line, marks=marks, id=line[:70])


def test_readme_has_commands_and_python():
    assert len(COMMANDS) >= 20
    assert _blocks("python"), "README's Python section is gone"
    assert NOT_JAROBERTA <= set(_shell_lines()), "a listed exception is no longer in README: drop it from NOT_JAROBERTA"
    for prefix in [*CANNOT_RUN, *SLOW, *NEEDS, *(n for needs in NEEDS.values() for n in needs)]:
        assert [line for line in COMMANDS if line.startswith(prefix)], f"no README line starts with {prefix!r} any more"
    for before, _ in SHRINK:
        assert [line for line in COMMANDS if before in line], f"no README line holds {before!r} any more"


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line):
    argv = _jaroberta_argv(line)
    args = build_parser(argv).parse_args(argv)
    assert callable(getattr(args, "run", None)), f"{line!r} names no runnable command"


# -- running the lines ---------------------------------------------------------------------------
def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _lay_out(folder: Path, rinna_dir: Path, jmed_dir: Path, manbyo_dic: Path) -> None:  # noqa: F811
    """The files the README's lines read, tiny, where they expect them."""
    sentences = list(JA_SENTENCES)
    documents = [sentences[i : i + 3] for i in range(0, len(sentences), 3)]
    for split, docs in (("train", documents * 3), ("dev", documents[:4])):
        (folder / "demo" / "corpus" / split).mkdir(parents=True, exist_ok=True)
        with open(folder / "demo" / "corpus" / split / "part-00000.txt", "w", encoding="utf-8") as handle:
            write_documents(handle, docs)
    (folder / "demo" / "corpus" / "corpus.json").write_text('{"sources": []}\n', encoding="utf-8")
    text = "".join("".join(s + "\n" for s in doc) + "\n" for doc in documents)
    (folder / "ja.txt.xz").write_bytes(lzma.compress(text.encode("utf-8")))
    cirrus = "".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps({"namespace": 0, "text": s}, ensure_ascii=False) + "\n"
                     for i, s in enumerate(sentences))
    (folder / "jawiki-20240101-cirrussearch-content.json.gz").write_bytes(gzip.compress(cirrus.encode("utf-8")))
    _write_jsonl(folder / "docs.jsonl", [{"body": s} for s in sentences])
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    (folder / "wiki").mkdir()
    pq.write_table(pa.table({"text": sentences}), folder / "wiki" / "part-0.parquet")
    Dataset.from_dict({"text": sentences}).save_to_disk(str(folder / "my_dataset"))
    shutil.copytree(rinna_dir, folder / "MODEL")
    (folder / "texts.txt").write_text("\n".join(sentences[:3]) + "\n", encoding="utf-8")
    shutil.copyfile(manbyo_dic, folder / MANBYO_FILE)
    labels = ["positive", "negative"]
    for split in ("train", "valid"):
        _write_jsonl(folder / "marc_ja" / f"{split}.jsonl",
                     [{"sentence": s, "label": labels[i % 2]} for i, s in enumerate(sentences[:8])])
        _write_jsonl(folder / "jnli" / f"{split}.jsonl",
                     [{"sentence1": s, "sentence2": sentences[i + 1], "label": ["entailment", "neutral", "contradiction"][i % 3]}
                      for i, s in enumerate(sentences[:8])])
        _write_jsonl(folder / "jsts" / f"{split}.jsonl",
                     [{"sentence1": s, "sentence2": sentences[i + 1], "label": float(i % 5)} for i, s in enumerate(sentences[:8])])
    conll = "".join("".join(f"{ch}\t{'B-LOC' if j == 0 else 'O'}\n" for j, ch in enumerate(s[:8])) + "\n" for s in sentences[:8])
    for name in ("train.conll", "dev.conll", "test.conll"):
        (folder / name).write_text(conll, encoding="utf-8")
    cache = folder / ".hub"
    write_hub_cache(cache, "rinna/japanese-roberta-base", rinna_dir, COMMIT)
    write_hub_cache(cache, "alabnii/jmedroberta-base-manbyo-wordpiece", jmed_dir, COMMIT)


@pytest.fixture(scope="module")
def readme_world(tmp_path_factory, rinna_dir, jmed_dir, manbyo_dic):  # noqa: F811
    """A working folder with the README's inputs; `run(line)` runs a line there (once)."""
    folder = tmp_path_factory.mktemp("readme")
    _lay_out(folder, rinna_dir, jmed_dir, manbyo_dic)
    done: dict[str, int] = {}

    def run(line: str) -> int:
        if line not in done:
            for needed in NEEDS.get(next((p for p in NEEDS if line.startswith(p)), ""), []):
                assert run(_find(needed)) == 0, f"{needed!r}, needed by {line!r}, failed"
            shrunk = line
            for before, after in SHRINK:
                shrunk = shrunk.replace(before, after)
            # shell globs expanded as bash would
            argv = [match for word in _jaroberta_argv(shrunk) for match in (sorted(glob.glob(word)) if "*" in word else [word])]
            done[line] = main(argv)
        return done[line]

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("HF_HUB_CACHE", str(folder / ".hub"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield run, folder


@pytest.mark.parametrize("line", list(_params(runnable_only=True)))
def test_readme_command_runs(readme_world, line):
    run, folder = readme_world
    assert run(line) == 0, line


def test_readme_python_runs(rinna_dir, tmp_path, capsys):  # noqa: F811
    exported = tmp_path / "rinna-hf"  # what `jaroberta export MODEL rinna-hf` writes, for the transformers snippet
    export_model(rinna_dir, exported)
    for block in _blocks("python"):
        block = block.replace('"MODEL"', repr(str(rinna_dir))).replace('"rinna-hf"', repr(str(exported)))
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "(2, " in out  # the embeddings' shape was printed


# -- the Flags table ------------------------------------------------------------------------------
def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, path + (name,))


def _flags_table() -> list[tuple[list[str], set[str]]]:
    """(flags, commands) of every row of README's Flags table."""
    section = README.read_text(encoding="utf-8").split("## Flags", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`--"):
            rows.append((re.findall(r"`(--[a-z0-9-]+)`", cells[0]), set(re.findall(r"`([a-z -]+)`", cells[2]))))
    return rows


def test_flags_table_says_which_commands_have_each_flag():
    leaves = dict(_leaves(build_parser()))
    rows = _flags_table()
    assert len(rows) >= 20
    for flags, listed in rows:
        # a group name ("finetune") stands for all of its actions
        expected = {leaf for leaf in leaves for name in listed if leaf == name or leaf.startswith(name + " ")}
        for flag in flags:
            having = {leaf for leaf, p in leaves.items() if any(flag in a.option_strings for a in p._actions)}
            assert having == expected, f"README says {flag} is on {sorted(listed)}; the parsers: {sorted(having)}"
