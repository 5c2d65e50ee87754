"""evaluate(): every method on the same frames, externals, crops, set opening, the CLI job."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation import datasets as ds
from viewsynth.evaluation import metrics, sets
from viewsynth.evaluation.evaluate import crop_region, evaluate, open_sets
from viewsynth.evaluation.peers import ExternalCommand, MethodSpec, UnsupportedInput
from viewsynth.frames import to_uint8
from viewsynth.interpolators import Linear
from viewsynth.pipelines import evaluate as evaluate_job

CROSSFADE = """
import sys
import cv2
import numpy as np

for line in open(sys.argv[1]):
    p0, p1, out, *t = line.split()
    t = float(t[0]) if t else 0.5
    a = cv2.imread(p0).astype(np.float32)
    b = cv2.imread(p1).astype(np.float32)
    cv2.imwrite(out, np.clip(np.rint((1 - t) * a + t * b), 0, 255).astype(np.uint8))
"""


def crossfade_command(tmp_path, placeholder="{list}"):
    """An external interpolator: a Python script that cross-fades each listed pair (at each
    line's t with ``{list_t}``)."""
    script = tmp_path / "crossfade.py"
    script.write_text(CROSSFADE)
    return f"{sys.executable} {script} {placeholder}"


class _Given:
    """A method spec around a ready interpolator (evaluate only needs .label and .build())."""

    def __init__(self, label, interp):
        self.label, self._interp = label, interp

    def build(self):
        return self._interp


class _QuarterOnly:
    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        if times[0] != 0.25:
            raise UnsupportedInput(f"only t=0.25, got {times[0]}")
        return Linear()(img0, img1, times, equirect=equirect)


def _set_with_times(times, width=32, height=16):
    rng = np.random.default_rng(0)

    def make():
        for k, t in enumerate(times):
            img0 = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
            img1 = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
            gt = to_uint8(0.5 * img0 + 0.5 * img1 + 0.01)
            yield ds.Sample(f"s{k}", img0, img1, gt, t, True)

    return ds.Dataset("toy", "synthetic", "test", True, len(times), make)


def test_scores_are_the_metrics_of_the_rounded_output():
    dataset = ds.synthetic_set(2, 64, 32, seed=1)
    [result] = evaluate([dataset], [MethodSpec("linear"), MethodSpec("flow")])
    assert result.samples == ["synthetic000", "synthetic001"]
    for k, sample in enumerate(dataset.samples()):
        pred = to_uint8(Linear()(sample.img0, sample.img1, [0.5], equirect=True)[0])
        row = result.scores["linear"][k]
        assert row["psnr"] == pytest.approx(metrics.psnr(pred, sample.gt), abs=1e-12)
        assert row["seam_ws_psnr"] == pytest.approx(
            metrics.seam_ws_psnr(pred, sample.gt), abs=1e-12
        )
        assert row["seconds"] >= 0
    assert [r["first_of_size"] for r in result.scores["flow"]] == [True, False]
    summary = result.summary()
    assert summary["linear"]["count"] == 2
    assert summary["flow"]["seconds"] == result.scores["flow"][1]["seconds"]  # compile left out
    assert summary["linear"]["ie"] == pytest.approx(
        np.mean([r["ie"] for r in result.scores["linear"]])
    )
    # Flow must beat the cross-fade on moving texture, or the comparison means nothing.
    assert summary["flow"]["psnr"] > summary["linear"]["psnr"] + 1


def test_rolling_keeps_psnr_and_moves_the_seam_for_a_local_method():
    dataset = ds.synthetic_set(1, 64, 32, seed=2)
    plain, turned = evaluate([dataset, ds.rolled(dataset)], [MethodSpec("linear")])
    a, b = plain.scores["linear"][0], turned.scores["linear"][0]
    assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-12)  # a cross-fade is roll-invariant
    assert a["ws_psnr"] == pytest.approx(b["ws_psnr"], abs=1e-12)
    assert a["seam_ws_psnr"] != pytest.approx(b["seam_ws_psnr"], abs=1e-3)
    assert turned.name.endswith("(rolled)") and turned.rolled


def test_crops_cross_the_seam_for_panoramas():
    rows, cols = crop_region(32, 64, equirect=True)
    assert cols.tolist() == list(range(32, 64)) + list(range(32))  # at least 32 each side
    rows, cols = crop_region(512, 1024, equirect=True)
    assert (rows.start, rows.stop) == (128, 384)
    assert cols.tolist() == list(range(960, 1024)) + list(range(64))
    # The report's crops are that region: at 256x128 (rows 32-96, columns 224-255 then 0-31), a
    # size small enough to evaluate quickly that still puts the crop across the seam.
    rows, cols = crop_region(128, 256, equirect=True)
    assert (rows.start, rows.stop) == (32, 96) and cols[0] == 224 and cols[-1] == 31
    dataset = ds.synthetic_set(1, 256, 128, seed=0)
    [result] = evaluate([ds.rolled(dataset)], [MethodSpec("linear")])
    gt = next(ds.rolled(dataset).samples()).gt
    assert np.array_equal(result.crops["ground truth"], gt[rows][:, cols])
    assert set(result.crops) == {"ground truth", "linear"}


def test_unsupported_method_is_dropped_from_the_set_with_a_note():
    [result] = evaluate(
        [_set_with_times([0.25, 0.5])], [_Given("picky", _QuarterOnly()), MethodSpec("linear")]
    )
    assert "picky" not in result.scores and len(result.scores["linear"]) == 2
    assert result.notes == ["picky: skipped on this set (only t=0.25, got 0.5)"]


class _Scaled:
    """A cross-fade returning its frames as ``convert`` makes them (a user's own method)."""

    def __init__(self, convert):
        self.convert = convert

    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        return self.convert(Linear()(img0, img1, times, equirect=equirect))


def test_a_methods_uint8_output_scores_as_its_floats_and_another_scale_is_refused():
    dataset = _set_with_times([0.5, 0.5])
    as_uint8 = _Given("u8", _Scaled(to_uint8))
    [result] = evaluate([dataset], [MethodSpec("linear"), as_uint8])
    # uint8 frames were rounded again as [0, 1] floats: every lit pixel white, 5 dB, silently
    for ours, theirs in zip(result.scores["linear"], result.scores["u8"], strict=True):
        assert theirs["psnr"] == ours["psnr"] and theirs["ws_psnr"] == ours["ws_psnr"]
    for label, convert, said in (
        ("x255", lambda f: f * 255.0, "249.68: expected RGB in [0, 1]"),
        ("one", lambda f: f[0], "returned an array of shape (16, 32, 3) for s0, expected (1, 16"),
    ):
        with pytest.raises(ViewsynthError) as err:
            evaluate([dataset], [_Given(label, _Scaled(convert))])
        assert f"method {label}" in str(err.value) and said in str(err.value), str(err.value)


def test_a_ready_interpolator_is_scored_under_its_name():
    # A researcher's own method, through the Python API: no spec object around it needed.
    class Mine(_Scaled):
        name = "mine"

        def record(self):
            return {"method": self.name}

        def last_pair(self):
            return {}

    [result] = evaluate([_set_with_times([0.5])], [Linear(), Mine(lambda f: f)])
    assert list(result.scores) == ["linear", "mine"]
    assert result.scores["mine"][0]["psnr"] == result.scores["linear"][0]["psnr"]


def test_a_researchers_method_needs_only_a_name_and_a_call():
    # The README's `Mine()` beside ours: a class with a name and __call__, no record()/last_pair(),
    # died with "AttributeError: 'Mine' object has no attribute 'label'"; one without a name
    # is refused in one line saying what it lacks.
    class Mine(_Scaled):
        name = "mine"

    [result] = evaluate([_set_with_times([0.5])], [Linear(), Mine(lambda f: f)])
    assert list(result.scores) == ["linear", "mine"]
    assert result.scores["mine"][0]["psnr"] == result.scores["linear"][0]["psnr"]
    with pytest.raises(
        ViewsynthError, match=r"method _Scaled: not an Interpolator; give it a `name`"
    ):
        evaluate([_set_with_times([0.5])], [_Scaled(lambda f: f)])


def test_two_methods_of_one_name_are_refused(tmp_path):
    # An external named as a method (or two externals of one name) took the other's row: the
    # table showed a cross-fade's scores under "flow", silently.
    fade = ExternalCommand("flow", crossfade_command(tmp_path))
    for methods, externals in (([MethodSpec("flow")], [fade]), ([], [fade, fade])):
        with pytest.raises(ViewsynthError, match=r"^method flow: two methods of that name"):
            evaluate([_set_with_times([0.5])], methods, externals)


def test_a_speed_of_first_calls_only_is_marked_as_such():
    # The table says a size's first call (a jitted method's compile) is left out of s/frame; with
    # no other call (--limit 1, a size of its own) the compile was shown as speed, unmarked.
    from viewsynth.evaluation.report import quality_table

    [one] = evaluate([_set_with_times([0.5])], [MethodSpec("linear")])
    [two] = evaluate([_set_with_times([0.5, 0.5])], [MethodSpec("linear")])
    assert one.summary()["linear"]["first_calls_only"] == 1.0
    assert two.summary()["linear"]["first_calls_only"] == 0.0
    assert " (1st call) |" in quality_table([one]) and "1st call" not in quality_table([two])


def test_a_set_whose_frames_other_networks_made_says_so(tmp_path):
    # A researcher's own geometry network scored on photos: rnn hands photos to the shipped photos
    # network (and its 2D fallback), so the given weights made none of the frames, and the table
    # showed the shipped networks' scores under its name with not a word.
    from flax import nnx

    from viewsynth.model import ModelConfig, Network, save_weights

    mine = tmp_path / "mine.msgpack"
    save_weights(mine, Network(ModelConfig.tiny(geometry=True), rngs=nnx.Rngs(0)))
    photos = ds.synthetic_set(1, 48, 32, seed=5)
    [result] = evaluate([photos], [MethodSpec("rnn", None, str(mine))])
    assert result.notes == ["rnn: of 1 samples, made 1 by flow_only.msgpack"]
    [result] = evaluate([photos], [MethodSpec("rnn")])  # the shipped default's own hand-over
    assert result.notes == ["rnn: of 1 samples, made 1 by flow_only.msgpack"]


def test_the_note_calls_a_file_given_only_ones_own():
    # The benchmark runs the shipped default: its note said "made 1 by default.msgpack
    # (--weights)" though nobody gave --weights.
    from viewsynth.evaluation.peers import others_note
    from viewsynth.model.weights import DEFAULT_WEIGHTS, FLOW_ONLY_WEIGHTS

    class Named:
        def __init__(self, weights):
            self.weights = weights

        def record(self):
            return {"method": "rnn", "weights": self.weights}

    made = [str(DEFAULT_WEIGHTS), str(FLOW_ONLY_WEIGHTS)]
    shipped = others_note("rnn", Named(str(DEFAULT_WEIGHTS)), made)
    assert shipped == ["rnn: of 2 samples, made 1 by default.msgpack, 1 by flow_only.msgpack"]
    mine = others_note("rnn", Named("/x/mine.msgpack"), ["/x/mine.msgpack", made[1]])
    assert mine == [
        "rnn: of 2 samples, made 1 by /x/mine.msgpack (--weights), 1 by flow_only.msgpack"
    ]


def test_photos_weights_score_ones_own_network_on_photos(tmp_path, capsys):
    """No flag scored one's own network on photos: ``--weights`` names the panoramas' network,
    and photos went to the shipped photos network whatever was given. ``--photos-weights`` now
    gives photos' pairs with a pose to that file, and the report says which files made which."""
    from flax import nnx
    from test_sweep_pinhole import P0, P1, YAW0, YAW1, photo

    from viewsynth.evaluation.peers import resolve_methods
    from viewsynth.frames import write_image
    from viewsynth.model import ModelConfig, Network, save_weights
    from viewsynth.model.weights import DEFAULT_WEIGHTS
    from viewsynth.pipelines.cli import main as cli

    mine = tmp_path / "mine.msgpack"
    save_weights(mine, Network(ModelConfig.tiny(geometry=True), rngs=nnx.Rngs(0)))
    room = tmp_path / "room" / "walk"  # a room walked forward: its pair has a pose
    room.mkdir(parents=True)
    for i, name in enumerate(["frame0.png", "frame1.png", "frame2.png"]):
        at, yaw = P0 + (P1 - P0) * (i / 2.0), YAW0 + (YAW1 - YAW0) * i / 2.0
        write_image(room / name, photo(at, yaw, width=192, height=128)[0])
    room_set = ds.open_dataset(room.parent)
    specs, _ = resolve_methods(["rnn"], photos_weights=str(mine))
    assert specs == [MethodSpec("rnn", None, str(DEFAULT_WEIGHTS), str(mine))]
    [own] = evaluate([room_set], specs)
    [shipped] = evaluate([room_set], [MethodSpec("rnn")])
    assert own.notes[1:] == [f"rnn: of 1 samples, made 1 by {mine}"]
    assert shipped.notes[1:] == ["rnn: of 1 samples, made 1 by photos.msgpack"]
    assert own.notes[0].startswith("frames without a focal length: asked with the 60-degree")
    assert own.scores["rnn"][0]["psnr"] != shipped.scores["rnn"][0]["psnr"]
    missing = tmp_path / "none.msgpack"
    argv = ["evaluate", str(room.parent), "--method", "rnn", "--photos-weights", str(missing)]
    assert cli(argv) == 2
    assert "--photos-weights" in capsys.readouterr().err


def test_external_command_scores_like_the_in_process_crossfade(tmp_path):
    dataset = ds.synthetic_set(2, 48, 24, seed=4)
    ext = ExternalCommand("fade", crossfade_command(tmp_path))
    [result] = evaluate([dataset], [MethodSpec("linear")], [ext])
    assert len(result.scores["fade"]) == 2 and "fade" in result.crops
    for ours, theirs in zip(result.scores["linear"], result.scores["fade"], strict=True):
        # Same blend; only the rounding of the inputs to 8 bits differs.
        assert theirs["ie"] == pytest.approx(ours["ie"], abs=0.6)


def test_external_commands_get_midpoints_only(tmp_path):
    ext = ExternalCommand("fade", crossfade_command(tmp_path))
    [result] = evaluate([_set_with_times([0.25])], [MethodSpec("linear")], [ext])
    assert "fade" not in result.scores
    assert result.notes == [
        "external methods: skipped on this set (t=0.25; they get midpoints only)"
    ]


def test_a_list_t_command_gets_each_pairs_time_and_scores_like_the_crossfade(tmp_path):
    ext = ExternalCommand("fade", crossfade_command(tmp_path, "{list_t}"))
    midpoints = ExternalCommand("mid", crossfade_command(tmp_path))
    dataset = _set_with_times([0.25, 0.75])
    [result] = evaluate([dataset], [MethodSpec("linear")], [ext, midpoints])
    assert "mid" not in result.scores and result.notes == [
        "external methods: skipped on this set (t=0.25; they get midpoints only)"
    ]
    assert len(result.scores["fade"]) == 2
    for ours, theirs in zip(result.scores["linear"], result.scores["fade"], strict=True):
        assert theirs["ie"] == pytest.approx(ours["ie"], abs=0.6)  # the same blend at each t
    lines = (tmp_path / "l.txt", [(Path("a.png"), Path("b.png"), Path("o.png"))])
    with pytest.raises(ViewsynthError, match="midpoints only"):
        midpoints.run(lines[1], lines[0], [0.25])


def test_open_sets_skips_absent_data_and_falls_back(tmp_path):
    missing = sets.DatasetConfig(name="mb", path=str(tmp_path / "absent"))
    fallback = sets.DatasetConfig(
        name="syn", kind="synthetic", count=1, width=32, height=16, rolled=True
    )
    flat = sets.DatasetConfig(
        name="flat", kind="synthetic", count=1, width=30, height=20, rolled=True
    )
    opened, notes = open_sets([missing], [fallback, flat])
    assert [s.name for s in opened] == ["syn", "syn (rolled)", "flat"]
    assert notes[0].startswith("mb: skipped (") and "no such file or folder" in notes[0]
    assert "using the generated fallback sets" in notes[1]
    assert notes[2] == "flat: not panoramas, so no rolled run"
    opened, _ = open_sets([flat], [fallback])
    assert [s.name for s in opened] == ["flat"]  # the fallback only when nothing opened


def test_evaluate_job_writes_a_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = evaluate_job.main(
        [
            "--synthetic", "2", "--size", "64x32", "--rolled", "--method", "linear", "flow",
            "--external", f"fade={crossfade_command(tmp_path)}", "-o", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    names = [s["name"] for s in data["sets"]]
    assert names == ["synthetic panoramas 64x32", "synthetic panoramas 64x32 (rolled)"]
    assert set(data["sets"][1]["summary"]) == {"linear", "flow", "fade"}
    table = (out / "table.md").read_text()
    assert capsys.readouterr().out == table + "\n"
    assert "| synthetic panoramas 64x32 (rolled) | 2 | fade |" in table
    for name in ["quality_vs_speed.png", "montage_synthetic_panoramas_64x32_rolled.png"]:
        assert (out / name).stat().st_size > 0


def test_evaluate_job_needs_a_dataset():
    from viewsynth.errors import ViewsynthError

    with pytest.raises(ViewsynthError, match=r"^give at least one DATASET"):
        evaluate_job.main(["--method", "linear"])
    with pytest.raises(ViewsynthError, match=r"^--fit-times: each t must lie in \(0, 1\)"):
        evaluate_job.main(["--synthetic", "1", "--method", "linear", "--fit-times", "0.3", "1.2"])


def test_a_skipped_sample_is_said_and_a_set_with_none_left_is_an_error(tmp_path, capsys):
    """A corrupt frame's samples are skipped with a note on the console (not only in the report);
    when no sample is left to score, the job says so and fails instead of an empty table."""
    from viewsynth import frames
    from viewsynth.errors import ViewsynthError

    rng = np.random.default_rng(0)
    for i in range(5):  # leave-one-out samples 01, 02, 03; frame 04 only in 03's
        frames.write_image(tmp_path / f"{i:02d}.png", rng.random((16, 32, 3)).astype(np.float32))
    (tmp_path / "04.png").write_bytes((tmp_path / "04.png").read_bytes()[:60])
    assert evaluate_job.main([str(tmp_path), "--method", "linear", "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "skipped 03" in err and "04.png: truncated or corrupt image" in err
    (tmp_path / "02.png").write_bytes(b"")  # in every sample left
    with pytest.raises(ViewsynthError, match="no sample could be scored"):
        evaluate_job.main([str(tmp_path), "--method", "linear", "-o", str(tmp_path / "b")])
    assert "note: " in capsys.readouterr().err


def test_the_report_is_never_written_among_a_datasets_frames(tmp_path):
    # -o the capture itself put results.json, table.md and the plots among its frames: the next
    # run read the plots as frames of the walk (scored where they happen to match its size).
    from viewsynth import frames
    from viewsynth.errors import ViewsynthError

    rng = np.random.default_rng(0)
    for i in range(3):
        frames.write_image(tmp_path / f"{i:02d}.png", rng.random((16, 32, 3)).astype(np.float32))
    with pytest.raises(
        ViewsynthError, match=r"^-o .*: the dataset .* itself; give another folder$"
    ):
        evaluate_job.main([str(tmp_path), "--method", "linear", "-o", f"{tmp_path}/."])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00.png", "01.png", "02.png"]


class _Turned:
    """A method whose output is the truth turned by a known small rotation of the sphere."""

    def __init__(self, truth):
        from viewsynth.evaluation import rotation

        self.out = rotation.rotate_equirect(
            truth.astype(np.float32) / 255.0, rotation.rotation_matrix(2.0, 1.0, 0.0), sharp=True
        )

    def __call__(self, img0, img1, times, *, equirect, hfov=None):
        return self.out[None]


def test_panoramas_get_the_rotation_compensated_score_beside_the_plain_one(tmp_path):
    from viewsynth.evaluation.report import quality_table

    pano = ds.synthetic_set(1, 128, 64, seed=3)
    flat = ds.synthetic_set(1, 96, 64, seed=3)
    truth = next(pano.samples()).gt
    turned = _Given("turned", _Turned(truth))
    [res_pano] = evaluate([pano], [MethodSpec("linear"), turned])
    [res_flat] = evaluate([flat], [MethodSpec("linear")])
    row = res_pano.scores["turned"][0]
    assert row["rc_ws_psnr"] > row["ws_psnr"] + 5  # the turn is compensated
    assert row["rc_seconds"] >= 0
    lin = res_pano.scores["linear"][0]
    assert lin["rc_ws_psnr"] >= lin["ws_psnr"]
    assert "rc_ws_psnr" not in res_flat.scores["linear"][0]  # perspective: plain PSNR only
    table = quality_table([res_pano, res_flat])
    assert "rc-WS-PSNR" in table.splitlines()[0]
    assert res_pano.summary()["turned"]["rc_ws_psnr"] == pytest.approx(row["rc_ws_psnr"])


def test_fit_times_score_each_method_where_the_middle_shot_was_taken(tmp_path):
    # The walker took the middle shot 30% of the way along: the set asks for t = 0.5, and a
    # method that renders the right place is only seen to be right at t = 0.3.
    rng = np.random.default_rng(1)
    img0, img1 = (rng.uniform(0, 1, (32, 64, 3)).astype(np.float32) for _ in range(2))
    gt = to_uint8(0.7 * img0 + 0.3 * img1)

    def make():
        yield ds.Sample("s0", img0, img1, gt, 0.5, True)

    walk = ds.Dataset("walk", "path", "test", True, 1, make, fit_times=(0.3, 0.7))
    fade = ExternalCommand("fade", crossfade_command(tmp_path, "{list_t}"))
    mid = ExternalCommand("mid", crossfade_command(tmp_path))
    [result] = evaluate([walk], [MethodSpec("linear")], [fade, mid])
    [ours], [theirs], [plain] = (result.scores[k] for k in ("linear", "fade", "mid"))
    at_half = metrics.ws_psnr(to_uint8(0.5 * img0 + 0.5 * img1), gt)
    assert ours["ws_psnr"] == pytest.approx(at_half)  # the set's own t is still what is scored
    assert ours["trc_t"] == 0.3 and ours["trc_ws_psnr"] > max(ours["rc_ws_psnr"], 40.0)
    assert theirs["trc_t"] == 0.3 and theirs["trc_ws_psnr"] > 40.0  # an external {list_t} too
    assert "trc_ws_psnr" not in plain  # a {list} command gets midpoints only
    assert result.summary()["linear"]["trc_ws_psnr"] == ours["trc_ws_psnr"]
    from viewsynth.evaluation.report import quality_table

    assert "trc-WS-PSNR" in quality_table([result])
    [unfitted] = evaluate([_set_with_times([0.5])], [MethodSpec("linear")])
    assert "trc_ws_psnr" not in unfitted.scores["linear"][0]
    assert "trc-WS-PSNR" not in quality_table([unfitted])
    with pytest.raises(ViewsynthError, match="fit_times must lie in"):
        sets.from_config(sets.DatasetConfig(kind="render", count=1, fit_times=(0.0, 0.5)))


def test_each_method_is_asked_with_the_samples_field_of_view():
    asked = []

    class _Asked:
        def __call__(self, img0, img1, times, *, equirect, hfov=None):
            asked.append(hfov)
            return Linear()(img0, img1, times, equirect=equirect)

    def make():
        img = np.zeros((16, 24, 3), np.float32)
        yield ds.Sample("a", img, img, to_uint8(img), 0.5, False, 52.6)
        yield ds.Sample("b", img, img, to_uint8(img), 0.5, False)

    dataset = ds.Dataset("photos", "synthetic", "test", False, 2, make)
    evaluate([dataset], [_Given("asked", _Asked())])
    assert asked == [52.6, None]


def test_ordinary_frames_without_a_focal_length_take_hfov_and_say_what_they_were_asked_with(
    tmp_path, monkeypatch, capsys
):
    # A dashcam's frames say no focal length: the geometry methods assume 60 degrees unless the
    # user gives the camera's (--hfov, as capture.hfov in a job); frames with EXIF keep their own.
    from PIL import Image

    from viewsynth import frames

    rng = np.random.default_rng(1)
    plain, tagged = tmp_path / "plain", tmp_path / "tagged"
    for folder in (plain, tagged):
        folder.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 35  # FocalLengthIn35mmFilm
    for i in range(3):
        img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        frames.write_image(plain / f"{i}.png", img)
        Image.fromarray(img).save(tagged / f"{i}.jpg", exif=exif.tobytes())
    asked = {}

    def scored(datasets, methods, externals, log):
        for dataset in datasets:
            asked[dataset.name] = [s.hfov for s in dataset.samples()], list(dataset.notes)
        raise KeyboardInterrupt  # (the report is not what this test is about)

    monkeypatch.setattr(evaluate_job, "evaluate", scored)
    with pytest.raises(KeyboardInterrupt):
        evaluate_job.main([str(plain), str(tagged), "--method", "linear", "--hfov", "90"])
    assert asked["plain"] == ([90.0], ["frames without a focal length: asked with --hfov 90"])
    assert asked["tagged"][0] == [pytest.approx(52.6, abs=0.1)] and not asked["tagged"][1]
    with pytest.raises(KeyboardInterrupt):
        evaluate_job.main([str(plain), "--method", "linear"])
    [hfov], [note] = asked["plain"]
    assert hfov is None and "60-degree default" in note and "--hfov DEG" in note
    for bad in ("200", "0.5", "nan"):
        with pytest.raises(SystemExit):
            evaluate_job.main([str(plain), "--method", "linear", "--hfov", bad])
        assert "--hfov must be degrees in [1, 180)" in capsys.readouterr().err
