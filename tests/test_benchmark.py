"""The benchmark job on a tiny generated suite, the published tables (docs/BENCHMARK.md), and the
speed harness."""

import json
import re
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
    captured = capsys.readouterr()
    assert captured.out == table + "\n"
    # Progress on stderr: per set and per size, done, left and the time left.
    assert "quality 1/2 pano: 1/2 done, 1 left (synthetic000); this part ETA" in captured.err
    assert "quality 2/2 pano (rolled): 2/2 done, 0 left" in captured.err
    assert "speed 1/2 64x32: 1/4 done, 3 left (linear warmed up)" in captured.err
    assert "speed 1/2 64x32: 4/4 done, 0 left (repetition 2/2 of 2 methods)" in captured.err
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


def test_only_runs_the_sets_named_and_never_publishes_them(tmp_path, capsys):
    # A researcher's subset of the suite: --set datasets=[...] replaced the published tables
    # with the subset unless --no-publish was given too.
    config = yaml.safe_load(_tiny_config(tmp_path).read_text())
    config["datasets"] = [
        {"name": name, "kind": "synthetic", "count": 1, "width": 64, "height": 32}
        for name in ("a", "b", "c")
    ]
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "latest.md").write_text("published\n")
    flags = ["--no-speed", "--no-job", "--no-walk", "-o", str(tmp_path / "run")]
    assert benchmark_job.main(["--config", str(path), "--only", "c", "a", *flags]) == 0
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [s["name"] for s in data["sets"]] == ["a", "c"]
    assert (tmp_path / "latest.md").read_text() == "published\n"
    with pytest.raises(ViewsynthError, match=r"^--only 'd': no such set; the config's: a, b, c$"):
        benchmark_job.main(["--config", str(path), "--only", "d", *flags])
    # Nor later: --publish RUN_DIR put the subset's tables in place of the whole suite's.
    with pytest.raises(ViewsynthError, match=r"run: a run of some sets only \(--only c a\), never"):
        benchmark_job.main(["--config", str(path), "--publish", str(tmp_path / "run")])
    assert (tmp_path / "latest.md").read_text() == "published\n"


def test_a_run_with_other_weights_is_not_published(tmp_path, capsys):
    # A researcher's `viewsynth benchmark --weights mine.msgpack` rewrote docs/BENCHMARK.md and
    # latest.md: their network's scores under "The published run", as the shipped default's.
    from viewsynth.model.weights import DEFAULT_WEIGHTS

    config = _tiny_config(tmp_path)
    (tmp_path / "latest.md").write_text("published\n")
    flags = ["--no-speed", "--no-job", "--no-walk", "-o", str(tmp_path / "run")]
    argv = ["--config", str(config), "--weights", str(DEFAULT_WEIGHTS), *flags]
    assert benchmark_job.main(argv) == 0
    assert (tmp_path / "latest.md").read_text() == "published\n"
    assert (
        f"not published: --weights {DEFAULT_WEIGHTS} is not the config's" in capsys.readouterr().err
    )


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
    assert {d.kind for d in cfg.datasets} == {"path", "render", "perspective_render"}
    assert cfg.speed.sizes[-1] == (5760, 2880)
    assert {d.kind for d in cfg.fallback} == {"synthetic"}
    with pytest.raises(ViewsynthError, match=r"unknown key 'method'"):
        cfgmod.load(BenchmarkConfig, path, ["method=flow"])
    # Issue 32's perspective sets: Lund at gaps 1 and 2, both udacity clips at gaps 3 and 6 at
    # 1024 wide, the GoPro HERO walk by GPS distance, the held-out perspective renders.
    named = {d.name: d for d in cfg.datasets}
    assert [named[f"Lund leave-one-out{g}"].gap for g in ("", " gap 2")] == [1, 2]
    for clip in ("driving", "highway"):
        for gap in (3, 6):
            d = named[f"udacity {clip} gap {gap}"]
            assert d.gap == gap and d.resize_width == 1024 and d.path.endswith(".mp4")
    walks = [d for d in cfg.datasets if d.metres]
    assert walks and all(1.0 <= d.metres <= 4.0 and "max-heromode" in d.path for d in walks)
    assert [d.kind for d in cfg.datasets].count("perspective_render") == 1
    # The job: rnn, flow and sweep less linear at factor 8, on garden a at 1024x512 and at its
    # 2048x1024 originals, and on Lund; the default alone (no baseline) on one pair enlarged to
    # 5760x2880, one whose pose has too little parallax (the 2D network's larger peak).
    job = cfg.job
    assert (set(job.methods), job.baseline, job.factor) == ({"rnn", "flow", "sweep"}, "linear", 8)
    assert [(c.path.split("/")[-1], c.width) for c in job.captures] == [
        ("gopro_max_garden_a", 1024),
        ("gopro_max_garden_a", 0),
        ("images", 0),
        ("gopro_fusion_forest", 5760),
    ]
    pair = ("rnn", "flow")
    assert [c.methods for c in job.captures] == [(), pair, pair, ("rnn",)]
    assert [c.baseline for c in job.captures] == [True, True, True, False]
    assert all(not d.fit_times for d in cfg.datasets)  # the time-fitted scores: --full only


def test_the_full_sweep_is_the_same_suite_with_more_data_in_its_config():
    default = cfgmod.to_dict(cfgmod.load(BenchmarkConfig, REPO / "configs" / "benchmark.yaml"))
    full = cfgmod.to_dict(cfgmod.load(BenchmarkConfig, REPO / "configs" / "benchmark_full.yaml"))
    assert (default["iters"], full["iters"]) == ([], [1, 2, 4, 8])
    assert default["speed"]["times_per_call"] == 1 and full["speed"]["times_per_call"] == 8
    assert default["speed"]["max_seconds_per_frame"] < full["speed"]["max_seconds_per_frame"]
    fitted = [d["name"] for d in full["datasets"] if d["fit_times"]]
    assert fitted and all(n.startswith("real360") for n in fitted)
    assert not any(d["fit_times"] for d in default["datasets"])
    assert [c["limit"] for c in default["job"]["captures"]] == [0, 6, 6, 2]
    assert [c["limit"] for c in full["job"]["captures"]] == [0, 0, 0, 2]
    for cfg in (default, full):
        cfg.pop("iters")
        for key in ("times_per_call", "max_seconds_per_frame", "iters"):
            cfg["speed"].pop(key)
        for d in cfg["datasets"]:
            d.pop("fit_times")
        for capture in cfg["job"]["captures"][1:3]:
            capture.pop("limit")
        for key in ("methods", "external"):  # the full walk: minterpolate and RIFE too
            cfg["walk"].pop(key)
    assert default == full  # the same sets, methods, sizes and job: only the sweep differs


def test_the_full_flag_selects_the_full_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the repository's
    assert benchmark_job.config_path(None) == REPO / "configs" / "benchmark.yaml"
    assert benchmark_job.config_path(None, full=True) == REPO / "configs" / "benchmark_full.yaml"
    given = tmp_path / "mine.yaml"
    assert benchmark_job.config_path(given) == given
    assert benchmark_job.parse_args(["--full"]).full
    with pytest.raises(SystemExit):  # one or the other
        benchmark_job.parse_args(["--full", "--config", str(given)])
    # From a project folder of one's own, its configs/ win.
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "benchmark_full.yaml").write_text("iters: [1]\n")
    assert benchmark_job.config_path(None, full=True) == Path("configs") / "benchmark_full.yaml"


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


def test_job_profile_refuses_a_photos_folder_it_cannot_use_in_one_line(tmp_path, capsys):
    import importlib.util

    import cv2
    import numpy as np

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "job_profile.py"
    spec = importlib.util.spec_from_file_location("job_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cv2.imwrite(str(tmp_path / "01.jpg"), np.zeros((8, 8, 3), np.uint8))
    for argv, why in (
        (["--photos", str(tmp_path / "none")], "none: not a folder"),
        (
            ["--photos", str(tmp_path)],
            "needs two photos (.jpg, .jpeg, .png, .heic, .heif, .hif), found 1",
        ),
    ):
        with pytest.raises(SystemExit) as err:
            module.main(argv)
        assert err.value.code == 2
        assert why in capsys.readouterr().err.strip().splitlines()[-1]
    cv2.imwrite(str(tmp_path / "02.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit) as err:
        module.main(["--photos", str(tmp_path), "--hfov", "200"])
    assert err.value.code == 2
    assert "--hfov 200: a horizontal field of view in (0, 180)" in capsys.readouterr().err


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


def test_progress_lines_say_done_left_and_the_time_left():
    from viewsynth.evaluation.progress import Progress, clock_text

    now = [0.0]
    lines = []
    progress = Progress("quality", units=30.0, parts=2, log=lines.append, clock=lambda: now[0])
    progress.start_part("A", 2, 10.0)
    now[0] = 10.0
    progress.step("first")
    # 5 of 30 units in 10 s: 25 units left at 2 s a unit; the part's one step left at 10 s a step.
    assert lines[-1] == (
        "quality 1/2 A: 1/2 done, 1 left (first); this part ETA 0:10; quality ETA 0:50 "
        "(elapsed 0:10)"
    )
    progress.end_part()  # a part cut short counts as done
    assert progress.done_units == 10.0
    progress.start_part("B", None, 20.0)
    now[0] = 20.0
    progress.step()
    assert lines[-1] == ("quality 2/2 B: 1 done; this part ETA ?; quality ETA 0:40 (elapsed 0:20)")
    assert [clock_text(s) for s in (None, 59.6, 61, 3725)] == ["?", "1:00", "1:01", "1:02:05"]


def test_evaluate_reports_progress_per_set_and_sample():
    from viewsynth.evaluation import datasets as ds
    from viewsynth.evaluation.evaluate import evaluate

    lines = []
    sets = [ds.synthetic_set(2, 32, 16), ds.synthetic_set(3, 24, 16, seed=1)]
    evaluate(sets, [MethodSpec("linear")], log=lines.append)
    steps = [line for line in lines if line.startswith("quality ")]
    assert len(steps) == 5
    assert steps[0].startswith("quality 1/2 synthetic panoramas 32x16: 1/2 done, 1 left")
    assert steps[-1].startswith("quality 2/2 synthetic perspective 24x16: 3/3 done, 0 left")
    assert all("this part ETA" in line and "quality ETA" in line for line in steps)
    assert "quality ETA 0:00" in steps[-1]


def _job_capture(folder: Path, n: int = 3) -> Path:
    import numpy as np

    from viewsynth.frames import write_image

    folder.mkdir(parents=True)
    for i in range(n):
        write_image(folder / f"{i + 1}.png", np.full((16, 32, 3), 0.1 * i, np.float32))
    return folder


def test_the_job_is_timed_per_output_frame_less_the_linear_run(tmp_path, monkeypatch):
    from viewsynth.evaluation import job
    from viewsynth.frames import read_image

    _job_capture(tmp_path / "walk", 3)
    seen = []

    def fake_run(capture, out, method, factor):
        images = sorted(p.name for p in capture.iterdir())
        seen.append((method, factor, images, read_image(capture / images[0]).image.shape))
        seconds = {"linear": 12.0, "flow": 19.3, "rnn": 37.6}[method]
        inside = {"linear": 0.4, "flow": 5.1, "rnn": 21.9}[method]
        return {"seconds": seconds, "frames": 73, "peak_mib": 100.0, "interpolate_seconds": inside}

    monkeypatch.setattr(job, "run_interpolate", fake_run)
    cfg = job.JobConfig(
        methods=("rnn", "flow"),
        factor=8,
        captures=(
            job.JobCapture(name="walk small", path="walk", width=16, limit=2),
            job.JobCapture(name="gone", path="absent"),
            job.JobCapture(name="walk rnn", path="walk", methods=("rnn",), baseline=False),
        ),
    )
    lines = []
    rows, notes = job.time_job(cfg, tmp_path, log=lines.append)
    # The baseline first, then each method, on the first 2 images brought to 16x8; a capture
    # that names its own methods gets those only (and no baseline, as it asks), on its images as
    # stored.
    assert [s[0] for s in seen] == ["linear", "rnn", "flow", "rnn"]
    assert {s[1] for s in seen} == {8}
    assert all(s[2] == ["1.png", "2.png"] and s[3] == (8, 16, 3) for s in seen[:3])
    assert all(s[2] == ["1.png", "2.png", "3.png"] and s[3] == (16, 32, 3) for s in seen[3:])
    assert [r["capture"] for r in rows[3:]] == ["walk rnn"]
    assert "over_baseline_per_frame" not in rows[3]
    rows = rows[:3]
    by_method = {r["method"]: r for r in rows}
    assert by_method["rnn"]["over_baseline_per_frame"] == pytest.approx((37.6 - 12.0) / 73)
    assert by_method["flow"]["over_baseline_per_frame"] == pytest.approx((19.3 - 12.0) / 73)
    assert by_method["rnn"]["seconds_per_frame"] == pytest.approx(37.6 / 73)
    assert by_method["rnn"]["interpolate_per_frame"] == pytest.approx(21.9 / 73)
    assert "over_baseline_per_frame" not in by_method["linear"]
    assert (rows[0]["width"], rows[0]["height"], rows[0]["images"]) == (16, 8, 2)
    assert len(notes) == 1 and notes[0].startswith("job: gone skipped (") and "absent" in notes[0]
    assert [line.split(":")[0] for line in lines] == ["job 1/3 walk small"] * 3 + [
        "job 3/3 walk rnn"
    ]
    assert lines[2].startswith("job 1/3 walk small: 3/3 done, 0 left (flow: 19.3 s, 73 frames)")
    assert lines[-1].startswith("job 3/3 walk rnn: 1/1 done, 0 left (rnn: 37.6 s, 73 frames)")
    table = job.job_table(rows).splitlines()
    assert table[0].startswith("| capture | size | images -> frames | method | job s/frame |")
    assert "| walk small | 16x8 | 2 -> 73 | rnn | 0.515 | 0.351 | 0.300 | 37.6 | 100 |" in table
    assert "| walk small | 16x8 | 2 -> 73 | linear | 0.164 | – | 0.005 | 12.0 | 100 |" in table
    old = {k: v for k, v in rows[1].items() if k != "interpolate_per_frame"}  # a run before it
    assert "| rnn | 0.515 | 0.351 | – | 37.6 |" in job.job_table([old])


def test_a_job_capture_naming_an_unknown_method_is_a_one_line_error(tmp_path):
    from viewsynth.errors import ConfigError
    from viewsynth.evaluation import job

    cfg = job.JobConfig(captures=(job.JobCapture(name="walk", path="walk", methods=("rife",)),))
    with pytest.raises(ConfigError, match=r"^job: capture 'walk': unknown method 'rife' \("):
        job.time_job(cfg, tmp_path)


def test_run_interpolate_times_the_real_job_and_counts_its_frames(tmp_path):
    from viewsynth.evaluation.job import run_interpolate

    capture = _job_capture(tmp_path / "walk", 3)
    run = run_interpolate(capture, tmp_path / "out", "linear", 2)
    assert run["frames"] == 5  # 3 images, one new frame in each of the 2 gaps
    assert run["seconds"] > 0 and run["peak_mib"] > 10
    assert 0 < run["interpolate_seconds"] < run["seconds"]  # the job's own account of its calls
    with pytest.raises(ViewsynthError, match=r"interpolate .*nowhere --method linear failed"):
        run_interpolate(tmp_path / "nowhere", tmp_path / "out2", "linear", 2)


def test_benchmark_job_publishes_the_job_section(tmp_path, monkeypatch):
    from viewsynth.evaluation import job

    config = _tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    _job_capture(tmp_path / "walk", 3)
    data["job"] = {"methods": ["flow"], "captures": [{"path": "walk"}]}
    config.write_text(yaml.safe_dump(data))
    runs = {"linear": 10.0, "flow": 13.0}
    monkeypatch.setattr(
        job,
        "run_interpolate",
        lambda c, o, m, f: {
            "seconds": runs[m],
            "frames": 20,
            "peak_mib": 1,
            "interpolate_seconds": runs[m] / 4,
        },  # fmt: skip
    )
    assert benchmark_job.main(["--config", str(config), "--no-speed"]) == 0
    run = next((tmp_path / "runs").iterdir())
    result = json.loads((run / "results.json").read_text())
    assert [(r["method"], r.get("over_baseline_per_frame")) for r in result["job"]] == [
        ("linear", None),
        ("flow", pytest.approx(0.15)),
    ]
    assert (
        "| walk | 32x16 | 3 -> 20 | flow | 0.650 | 0.150 |" in (tmp_path / "latest.md").read_text()
    )
    assert "**The job**" in (tmp_path / "docs" / "BENCHMARK.md").read_text()
    other = tmp_path / "r2"
    assert (
        benchmark_job.main(["--config", str(config), "--no-speed", "--no-job", "-o", str(other)])
        == 0
    )
    assert json.loads((other / "results.json").read_text())["job"] == []


def test_a_job_captures_bad_baseline_flag_is_a_one_line_error(tmp_path):
    """``baseline`` (run the linear baseline on a capture, or not) takes a yes or a no only."""
    from viewsynth import config as cfgmod
    from viewsynth.errors import ConfigError
    from viewsynth.evaluation.evaluate import BenchmarkConfig

    path = tmp_path / "bench.yaml"
    path.write_text(
        "job:\n  captures:\n    - name: walk\n      path: walk\n      baseline: maybe\n"
    )
    with pytest.raises(ConfigError) as err:
        cfgmod.load(BenchmarkConfig, path)
    message = str(err.value)
    assert "\n" not in message and "baseline" in message and "maybe" in message, message
    path.write_text("job:\n  captures:\n    - name: walk\n      path: walk\n      baseline: no\n")
    assert cfgmod.load(BenchmarkConfig, path).job.captures[0].baseline is False


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("walk.factor=0", "factor >= 2"),
        ("speed.reps=0", "speed.reps and times_per_call must be >= 1"),
        ("speed.sizes=[[0, 0]]", "each width and height at least 16"),
        ("job.factor=0", "job.factor must be at least 1"),
        ("datasets=[{name: p, path: x, resize_width: -5}]", "resize_width, metres"),
    ],
)
def test_benchmark_settings_that_cannot_work_are_refused_before_any_work(override, needle):
    """A section setting that ran for minutes and then failed (a traceback, or an exit 0 with the
    failure only in the report's notes) is one ConfigError when the config is read."""
    from viewsynth import config as config_lib
    from viewsynth.errors import ConfigError
    from viewsynth.evaluation.evaluate import BenchmarkConfig

    path = Path(__file__).parents[1] / "configs" / "benchmark.yaml"
    with pytest.raises(ConfigError, match=re.escape(needle)):
        config_lib.load(BenchmarkConfig, path, [override])
