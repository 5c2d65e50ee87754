"""The benchmark job on a tiny generated suite, the published tables (docs/BENCHMARK.md), and the
speed harness."""

import json
from pathlib import Path

import pytest
import yaml

from viewsynth import config as cfgmod
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.evaluate import BenchmarkConfig
from viewsynth.evaluation.peers import MethodSpec
from viewsynth.evaluation.report import SECTION_END, SECTION_START, update_section
from viewsynth.evaluation.speed import SpeedConfig, measure_speed
from viewsynth.pipelines import benchmark as benchmark_job

REPO = Path(__file__).resolve().parents[1]


def _tiny_config(tmp_path: Path) -> Path:
    cfg = {
        "methods": ["linear", "flow"],
        "datasets": [
            {"name": "absent", "path": "no/such/folder"},
        ],
        "fallback": [
            {
                "name": "pano",
                "kind": "synthetic",
                "count": 2,
                "width": 64,
                "height": 32,
                "rolled": True,
            },
        ],
        "speed": {"sizes": [[64, 32], [4096, 2048]], "reps": 2, "max_seconds_per_frame": 0.05},
        "report_dir": "runs",
        "latest": "latest.md",
        "tables": "docs/BENCHMARK.md",
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_benchmark_job_writes_run_latest_and_the_published_tables(tmp_path, capsys):
    config = _tiny_config(tmp_path)
    tables = tmp_path / "docs" / "BENCHMARK.md"
    tables.parent.mkdir()
    tables.write_text(
        f"# Intro\n\nhand-written\n\n{SECTION_START}\nold table\n{SECTION_END}\n\n## After\n"
    )
    assert benchmark_job.main(["--config", str(config)]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    run = runs[0]
    data = json.loads((run / "results.json").read_text())
    assert [s["name"] for s in data["sets"]] == ["pano", "pano (rolled)"]
    assert set(data["sets"][0]["summary"]) == {"linear", "flow"}
    assert data["info"]["cores"] >= 1 and data["info"]["commit"]
    # Speed: both methods at the small size, in their own processes; the large size is skipped
    # because the estimate from the small one exceeds the (tiny) limit.
    speed = {(r["method"], r["width"]) for r in data["speed"]}
    assert speed == {("linear", 64), ("flow", 64)}
    for row in data["speed"]:
        assert len(row["reps_s"]) == 2 and row["peak_rss_mib"] > 10
    assert any("not run at 4096x2048" in n for n in data["notes"])
    table = (run / "table.md").read_text()
    assert (tmp_path / "latest.md").read_text() == table
    assert (
        f"Commit `{data['info']['commit']}`" in table and f"{data['info']['cores']} cores" in table
    )
    assert "| pano (rolled) | 2 | flow |" in table and "| flow | 64x32 |" in table
    assert (run / "config.yaml").is_file() and (run / "montage_pano_rolled.png").is_file()
    assert capsys.readouterr().out == table + "\n"
    text = tables.read_text()
    assert text.startswith(
        "# Intro\n\nhand-written\n\n" + SECTION_START + "\n## The published run\n"
    )
    assert text.endswith(SECTION_END + "\n\n## After\n")
    assert "old table" not in text and "| pano | 2 | linear |" in text
    # --no-publish leaves both alone; --publish RUN_DIR publishes that run later, running nothing
    tables.write_text(f"# Intro\n\n{SECTION_START}\nold table\n{SECTION_END}\n")
    (tmp_path / "latest.md").write_text("old\n")
    assert benchmark_job.main(["--config", str(config), "--no-publish", "--no-speed"]) == 0
    assert (tmp_path / "latest.md").read_text() == "old\n" and "old table" in tables.read_text()
    capsys.readouterr()
    assert benchmark_job.main(["--config", str(config), "--publish", str(run)]) == 0
    assert (tmp_path / "latest.md").read_text() == table
    assert capsys.readouterr().out == table + "\n"
    assert tables.read_text() == text.replace("hand-written\n\n", "").replace("\n\n## After", "")
    assert len(list((tmp_path / "runs").iterdir())) == 2
    with pytest.raises(ViewsynthError, match=r"results.json: no such file"):
        benchmark_job.main(["--config", str(config), "--publish", str(tmp_path / "nowhere")])
    (run / "results.json").write_text("{}")
    with pytest.raises(ViewsynthError, match=r"results.json: not a benchmark run's results"):
        benchmark_job.main(["--config", str(config), "--publish", str(run)])


def test_update_section_appends_markers_once_and_replaces_after(tmp_path):
    doc = tmp_path / "BENCHMARK.md"
    doc.write_text("# Benchmark\n")
    update_section(doc, "first")
    assert doc.read_text() == f"# Benchmark\n\n{SECTION_START}\nfirst\n{SECTION_END}\n"
    update_section(doc, "second\n")
    assert doc.read_text() == f"# Benchmark\n\n{SECTION_START}\nsecond\n{SECTION_END}\n"


def test_update_section_refuses_half_markers(tmp_path):
    doc = tmp_path / "BENCHMARK.md"
    doc.write_text(f"# x\n{SECTION_START}\n")
    with pytest.raises(ViewsynthError, match=r"BENCHMARK.md: the benchmark markers are incomplete"):
        update_section(doc, "table")
    assert doc.read_text() == f"# x\n{SECTION_START}\n"


def test_make_benchmark_publishes_into_docs_benchmark_not_the_readme():
    # The full tables live in docs/BENCHMARK.md, between its markers; the README keeps one
    # hand-maintained summary table and no generated section.
    cfg = cfgmod.load(BenchmarkConfig, REPO / "configs" / "benchmark.yaml")
    target = (REPO / "configs" / cfg.tables).resolve()
    assert target == REPO / "docs" / "BENCHMARK.md"
    text = target.read_text()
    assert text.index(SECTION_START) < text.index("## The published run") < text.index(SECTION_END)
    readme = (REPO / "README.md").read_text()
    assert SECTION_START not in readme and SECTION_END not in readme
    assert "docs/BENCHMARK.md" in readme


def test_readme_is_the_manual_with_one_measured_table_and_no_history():
    # The README opens with the two commands, stays short, and leaves the history of the work
    # (rounds of work, training runs, candidates) to TRAINING_LOG.md and docs/.
    import re

    text = (REPO / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 400
    first_block = text.split("```", 2)[1]
    assert "make interpolate" in first_block and "make test" in first_block
    history = re.compile(
        r"\b(session|round|run|candidate) ?[0-9]+\b|\bcandidate [A-Z][0-9]?\b", re.I
    )
    assert [line for line in lines if history.search(line)] == []
    tables = [i for i, line in enumerate(lines) if line.startswith("| set |")]
    assert len(tables) == 1 and "RIFE v4.0" in lines[tables[0]]
    assert "make benchmark PEERS=rife" in text
    for doc in ("docs/MODEL_CARD.md", "docs/BENCHMARK.md", "docs/RESEARCH.md", "TRAINING_LOG.md"):
        assert f"({doc})" in text and (REPO / doc).is_file()


def test_speed_reports_a_failing_method_as_a_note_and_times_only_the_chosen_k():
    specs = [MethodSpec("rnn", k, "/no/such/weights.msgpack") for k in (2, 4)]
    rows, notes = measure_speed(specs, SpeedConfig(sizes=((32, 16),), reps=1, iters=(2,)))
    assert rows == []
    assert len(notes) == 1 and notes[0].startswith("speed: rnn-k2 failed at 32x16: ")


def test_speed_also_times_many_times_per_call_and_reports_them_in_their_own_column():
    from viewsynth.evaluation.report import speed_table

    cfg = SpeedConfig(sizes=((32, 16),), reps=2, times_per_call=4)
    rows, notes = measure_speed([MethodSpec("linear")], cfg)
    assert notes == [] and len(rows) == 1
    row = rows[0]
    assert row["times_per_call"] == 4 and len(row["many_reps_s"]) == len(row["reps_s"]) == 2
    assert (
        row["many_seconds_per_frame"]
        == sorted(row["many_reps_s"])[0]
        + (sorted(row["many_reps_s"])[1] - sorted(row["many_reps_s"])[0]) / 2
    )  # the median of two
    head, rule, line = speed_table(rows).splitlines()
    assert head.split(" | ")[3] == "s/frame (4 t per call)" and rule.count("|") == head.count("|")
    assert len(line.split(" | ")) == len(head.split(" | "))
    single, _ = measure_speed(
        [MethodSpec("linear")], SpeedConfig(sizes=((32, 16),), reps=1, times_per_call=1)
    )
    assert "times_per_call" not in single[0] and "t per call" not in speed_table(single)


def test_standard_config_loads_and_names_its_command():
    path = REPO / "configs" / "benchmark.yaml"
    cfg = cfgmod.load(BenchmarkConfig, path)
    assert path.read_text().startswith("# make benchmark")
    assert {d.kind for d in cfg.datasets} == {"path", "render"}
    assert cfg.speed.sizes[-1] == (5760, 2880)
    assert {d.kind for d in cfg.fallback} == {"synthetic"}
    with pytest.raises(ViewsynthError, match=r"unknown key 'method'"):
        cfgmod.load(BenchmarkConfig, path, ["method=flow"])


def test_peak_memory_is_the_measuring_process_own():
    # getrusage's ru_maxrss would carry this process's peak into the child: touch 400 MB here
    # first, and the child running a cross-fade on a tiny frame must still report far less.
    import numpy as np

    big = np.ones(400 * 2**20 // 8)
    del big
    rows, notes = measure_speed([MethodSpec("linear")], SpeedConfig(sizes=((32, 16),), reps=1))
    assert notes == [] and len(rows) == 1
    assert 10 < rows[0]["peak_rss_mib"] < 300


def test_model_speed_refuses_a_size_it_cannot_run_in_one_line(capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "model_speed.py"
    spec = importlib.util.spec_from_file_location("model_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.size_arg("2048x1024") == (2048, 1024)
    for bad, why in (("2048x10x", "is not WIDTHxHEIGHT"), ("100x50", "multiples of 8")):
        with pytest.raises(SystemExit) as err:
            module.main(["--sizes", bad, "--no-memory"])
        assert err.value.code == 2
        assert why in capsys.readouterr().err.strip().splitlines()[-1]


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    from viewsynth.frames import new_run_dir

    first = new_run_dir(tmp_path / "runs", "20261205-003300")
    (first / "results.json").write_text("first")
    second = new_run_dir(tmp_path / "runs", "20261205-003300")
    third = new_run_dir(tmp_path / "runs", "20261205-003300")
    assert [first.name, second.name, third.name] == [
        "20261205-003300",
        "20261205-003300-2",
        "20261205-003300-3",
    ]
    assert (first / "results.json").read_text() == "first" and not any(second.iterdir())
