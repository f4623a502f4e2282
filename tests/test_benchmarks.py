"""The benchmark scripts still run and report what they promise (tiny sizes)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from headsplat.cli import main
from headsplat.io.video import iter_mp4, write_mp4

ROOT = Path(__file__).resolve().parents[1]


def benchmark_module(name: str):
    """``benchmarks/NAME.py`` loaded as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where its dataclasses look their annotations up
    spec.loader.exec_module(module)
    return module


def test_render_benchmark_reports_every_backend_and_prints_its_record(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "render.py"), "--results", str(tmp_path)]
    # Timings on a loaded machine say nothing about their order (seen twice with the other core busy:
    # 64 ms forward against 6-9 ms forward and backward, even as medians of 3), so only their sanity.
    sizes = ["--counts", "300", "--sizes", "32", "--repeats", "3", "--backends", "reference", "cpu"]
    done = subprocess.run([*command, *sizes], capture_output=True, text=True, check=True)
    recorded = json.loads((tmp_path / "cpu.json").read_text())
    assert recorded["commit"] and "cores" in recorded["machine"]
    results = recorded["rows"]
    assert [r["backend"] for r in results] == ["reference", "cpu"]
    table = subprocess.run([*command, "--table"], capture_output=True, text=True, check=True).stdout
    assert table == done.stdout and f"| cpu | 300 | 32 | {results[1]['forward_ms']:.0f} |" in table
    for row in results:
        assert 0 < row["forward_ms"] < 60_000 and 0 < row["forward_backward_ms"] < 60_000
        assert row["visible"] > 0 and row["intersections"] > 0
    assert results[1]["speedup_vs_reference"] > 0


def test_orbit_stills_writes_one_row_of_views_per_run(trained_run, tmp_path):
    run, _ = trained_run
    out = tmp_path / "stills.png"
    command = [sys.executable, str(ROOT / "benchmarks" / "orbit_stills.py"), str(run), str(run)]
    command += ["-o", str(out), "--views", "3", "--size", "24"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0, 120, 240 deg" in done.stdout
    counts = [line.split(": ")[1].split() for line in done.stdout.splitlines() if line.startswith(f"  {run}")]
    assert len(counts) == 2 and all(len(row) == 3 and all(n.isdigit() for n in row) for row in counts)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (48, 72, 3) and sheet.std() > 0  # two runs x three views, not blank


def test_quality_prints_an_error_budget_per_protocol(trained_run, capsys):
    run, _ = trained_run
    assert main(["eval", str(run), "--no-video"]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    quality = benchmark_module("quality")
    capsys.readouterr()
    quality.print_error_budgets(
        [{"clip": "tiny", "tracking": "landmarks", "strategy": "sampling", **metrics}]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert [line.split(" | ")[3] for line in lines] == ["test, refined", "test, tracked", "train, refined"]
    outline = metrics["error_budget"]["outline"]
    assert f"{outline['share']:.0f} ({outline['psnr_if_perfect']:.2f})" in lines[0]


def test_self_reenactment_scores_like_eval_tracked(trained_run):
    from headsplat.avatar.avatar import load_avatar
    from headsplat.evaluation.evaluate import mean_psnr
    from headsplat.io.subject import load_subject
    from headsplat.training.data import load_frame_data

    benchmark = benchmark_module("reenact")
    run, subject_folder = trained_run
    scores = benchmark.self_reenactment(run, subject_folder)
    avatar, subject = load_avatar(run), load_subject(subject_folder)
    data = load_frame_data(subject, avatar.size).with_torso(avatar.rest_pose())
    expected = mean_psnr(avatar, data, subject.split()[1], background=avatar.info["background"])
    assert abs(scores["psnr"] - expected) < 0.05  # the same renders, through reenact's video frames


def test_the_synthetic_arkit_take_reads_as_a_capture(tmp_path):
    from headsplat.drive.arkit import read_live_link_face

    take = tmp_path / "take.csv"
    command = [sys.executable, str(ROOT / "benchmarks" / "arkit_take.py"), str(take), "--seconds", "2"]
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
    names = ["jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L"]
    with pytest.warns(UserWarning, match="TongueOut"):
        motion = read_live_link_face(
            take, names, rest_rotation=torch.eye(3), rest_translation=torch.zeros(3), fps=25.0
        )
    assert len(motion) == 50  # 2 s at 25 fps (the last row at 1.98 s)
    assert motion.expression[:, 0].max() > 0.4 and motion.expression[25, 1] > 0.9  # talking; a blink at 1 s


def test_the_blendshape_benchmark_scores_the_export_against_the_avatar(trained_run, tmp_path):
    run, subject = trained_run
    (tmp_path / "runs").mkdir()
    (tmp_path / "subjects").mkdir()
    (tmp_path / "runs" / "tiny-sampling-cpu").symlink_to(run.resolve())
    (tmp_path / "subjects" / "tiny").symlink_to(subject.resolve())
    command = [sys.executable, str(ROOT / "benchmarks" / "blendshapes.py"), "--out", str(tmp_path)]
    command += ["--clips", "tiny", "--tracking", "landmarks", "--results", str(tmp_path / "results")]
    done = subprocess.run([*command, "--no-browser"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| tiny"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert float(cells[5]) > 60 and float(cells[6]) > 50  # the export renders as the avatar
    assert json.loads((tmp_path / "results" / "tiny-landmarks.json").read_text())["test_frames"] == int(
        cells[7]
    )
    table = subprocess.run([*command, "--table"], capture_output=True, text=True, check=True).stdout
    assert table == done.stdout  # printed from the record


def test_the_ablation_table_averages_seeds_and_shows_both_protocols(trained_run, capsys, tmp_path):
    run, _ = trained_run
    assert main(["eval", str(run), "--no-video", "--refine-steps", "0"]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    other = {
        **metrics,
        "psnr": metrics["psnr"] + 0.2,
        "mouth_psnr": metrics["mouth_psnr"] + 0.4,
        "tracked": {**metrics["tracked"], "mouth_psnr": float("nan")},
    }
    ablation = benchmark_module("ablation")
    assert len(ablation.STUDIES["stavatar"].plan) == 3 * 4 * 2 + 3 * 2
    eavatar = ablation.STUDIES["eavatar"]
    assert len(eavatar.plan) == 3 * 4 * 2 + 2 and {row for _, row, _ in eavatar.plan} < set(eavatar.rows)
    # A further seed recorded for a planned row joins the plan after its planned ones; others do not.
    for name in ("d5-both-s3", "d5-soft-s1", "notes"):
        (tmp_path / f"{name}.json").write_text("{}")
    plan = ablation.with_recorded_seeds([("d5", "base", 0), ("d5", "both", 0), ("d10", "both", 0)], tmp_path)
    assert plan == [("d5", "base", 0), ("d5", "both", 0), ("d5", "both", 3), ("d10", "both", 0)]
    capsys.readouterr()
    ablation.print_tables({("tiny", "both"): [metrics, other]})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    full, regions = (line.split(" | ") for line in lines)
    assert full[2] == "2" and full[4] == f"{metrics['psnr'] + 0.1:.2f} ±0.10"
    # Regions' PSNR with its spread too; the tracked mouth is averaged over the seed that has it.
    mouth = f"{metrics['mouth_psnr'] + 0.2:.2f} ±0.20 / {metrics['tracked']['mouth_psnr']:.2f}"
    assert regions[2] == mouth
    # Against base: the seeds' mean minus base's, per protocol; a row without its base is left out.
    ablation.print_differences(
        {("tiny", "base"): [metrics], ("tiny", "both"): [metrics, other], ("x", "soft"): [other]}
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(lines) == 2 and lines[1].split(" | ")[:4] == ["| tiny", "both", "2 / 1", "+0.10 / +0.00"]
    assert lines[1].split(" | ")[4] == "+0.20 / +0.00" and lines[1].endswith("+0 % / +0 % |")


def test_silhouette_reports_the_background_and_the_soft_binding_offsets(trained_run, ict_model, tmp_path):
    run, subject = trained_run
    soft = tmp_path / "soft"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
        args = ["train", str(subject), "-o", str(soft), "--steps", "4", "--size", "32"]
        assert main([*args, "--texels-per-cm", "0.5", "--deformer", "soft_binding"]) == 0
    silhouette = benchmark_module("silhouette")
    base, offsets = (silhouette.background_report(r, frames=2, top=10) for r in (run, soft))
    for report in (base, offsets):
        assert report["background_error_tracked"] >= 0 and report["background_error_refined"] >= 0
        assert 0 < report["coverage_percent"] < 100 and report["expression_outside_refined"] >= 0
    # Offsets only where soft binding is on; four steps move them off zero, within their bound.
    assert "offset_all" not in base
    assert 0 < offsets["offset_all"] < 0.5 * 3**0.5 and 0 <= offsets["offset_covering"] < 0.5 * 3**0.5


def test_the_regression_band_scores_a_seed_and_spans_the_seeds(ict_model, tmp_path):
    regression_band = benchmark_module("regression_band")
    from tests.synthetic_subject import write_speaking_subject

    subject = write_speaking_subject(tmp_path / "subject", ict_model)
    scores = regression_band.seed_scores(subject, tmp_path / "run", 3, 10, ict_model)
    assert set(scores) == set(regression_band.METRICS)
    assert 10 < scores["tracked_psnr"] < scores["psnr"] < 40  # refinement fits what tracking left
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["seed"] == 3
    low, high = regression_band.band([23.0, 23.4, 23.1])
    assert (low, high) == pytest.approx((23.1667 - 0.35, 23.1667 + 0.35), abs=1e-3)


def test_the_memory_benchmark_measures_each_child_alone_and_prints_its_record(tmp_path, monkeypatch, capsys):
    memory = benchmark_module("memory")
    gb, seconds = memory.measured(["--help"], env=memory.headsplat_env())
    assert 0.005 < gb < 4 and 0 < seconds < 120  # a Python process: tens to hundreds of MB
    with pytest.raises(SystemExit, match=r"failed: .*no-such-command"):
        memory.measured(["no-such-command"], env=memory.headsplat_env())

    # The looped clip: the source forwards, backwards, forwards (frames of rising brightness).
    source = tmp_path / "source.mp4"
    write_mp4(source, (np.full((32, 32, 3), 40 + 50 * i, np.uint8) for i in range(4)), 25.0)
    monkeypatch.setattr(memory, "clips", lambda: {memory.SOURCE: source})
    looped = [frame.mean() for frame in iter_mp4(memory.looped_clip(tmp_path / "out", 3))]
    order = np.argsort(np.argsort(looped[:4]))
    assert len(looped) == 12 and list(order) == [0, 1, 2, 3]
    assert np.allclose(looped[4:8], looped[3::-1], atol=3) and np.allclose(looped[8:], looped[:4], atol=3)

    row = {"command": "preprocess", "clip": "d18", "tracking": "landmarks", "frames": 180}
    memory.record(tmp_path / "results", "preprocess-d18-landmarks", row | {"peak_gb": gb, "seconds": 3.0})
    capsys.readouterr()
    memory.print_table(tmp_path / "results")
    printed = capsys.readouterr().out
    assert f"| preprocess | landmarks | d18 | 180 | {gb:.2f} | 3 |" in printed and "cores" in printed


def test_the_matte_benchmark_scores_each_variant_of_a_subject(ict_model, tmp_path):
    from tests.synthetic_subject import write_synthetic_subject

    mattes = benchmark_module("mattes")
    subject = write_synthetic_subject(tmp_path / "still", ict_model, 48, yaw_degrees=(0.0, 0.0))
    row = mattes.measure(subject, tmp_path, "tiny")
    assert set(row["flicker"]) == set(mattes.VARIANTS) and row["still_pairs"] == row["frames"] - 1
    for flicker in row["flicker"].values():
        # The head holds still: the shaded head's outline is the same in every frame.
        assert flicker["pairs"] == row["still_pairs"] and flicker["boundary_iou"] > 0.9
    figure = cv2.imread(str(tmp_path / "matte_tiny.png"))
    assert figure.shape == (48, 3 * 48, 3) and figure.std() > 0  # frame | mask | matte


def test_the_hair_table_scores_each_row_on_both_masks_against_base(trained_run, capsys):
    run, _ = trained_run
    assert main(["eval", str(run), "--no-video", "--refine-steps", "0"]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    raised = {
        **metrics,
        "outline_psnr": metrics["outline_psnr"] + 1.5,
        "train_psnr": metrics["train_psnr"] + 0.5,
    }
    hair = benchmark_module("hair")
    assert set(hair.ROWS["all"][1]) == set(hair.DEFORMERS) and hair.ROWS["matte"][0] == "soft"
    base = {"segmenter": metrics, "soft": metrics, "commit": "abc1234", "machine": "tiny VM"}
    motion = {"segmenter": metrics, "soft": raised, "commit": "abc1234", "machine": "tiny VM"}
    capsys.readouterr()
    hair.print_tables({("tiny", "base"): [base], ("tiny", "motion"): [motion, motion]})
    lines = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    scores, gains = lines[:4], lines[4:]
    assert [cells[3] for cells in scores] == ["segmenter", "soft", "segmenter", "soft"]
    assert scores[3][2] == "2" and scores[3][7] == f"{metrics['outline_psnr'] + 1.5:.2f} / " + (
        f"{metrics['tracked']['outline_psnr']:.2f}"
    )
    # Against base, per masks: the outline's refined gain shows only where it was made.
    assert [cells[2] for cells in gains] == ["segmenter", "soft"]
    assert gains[0][4] == "+0.00 / +0.00" and gains[1][4] == "+1.50 / +0.00" and gains[1][5] == "+0.50 |"
    assert scores[0][-1] == "abc1234 |"


def test_the_held_out_video_puts_each_run_beside_the_frames(trained_run, tmp_path):
    run, subject = trained_run
    video, stills = tmp_path / "side.mp4", tmp_path / "side.png"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "held_out_video.py"),
        str(subject),
        str(run),
        str(run),
    ]
    result = subprocess.run(
        [*command, "-o", str(video), "--stills", str(stills)], capture_output=True, text=True, check=True
    )
    frames = np.stack(list(iter_mp4(video)))
    assert frames.shape[1:] == (32, 3 * 32, 3) and len(frames) == 2  # the synthetic subject's test frames
    assert cv2.imread(str(stills)).shape == (2 * 32, 3 * 32, 3)  # four evenly spaced of two: both
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[1].split(": ")[1] == lines[2].split(": ")[1]  # one run, twice

    mouth = tmp_path / "mouth.png"
    subprocess.run(
        [*command, "-o", str(tmp_path / "mouth.mp4"), "--stills", str(mouth), "--mouth"], check=True
    )
    held_out_video = benchmark_module("held_out_video")
    from headsplat.io.subject import load_subject
    from headsplat.training.data import load_frame_data

    found = load_subject(subject)
    data = load_frame_data(found, 32)
    first = int(found.split()[1][0])
    rows, columns = held_out_video.mouth_squares(data, found.landmarks(32), [first])[0]
    side = held_out_video.MOUTH_PIXELS
    expected = cv2.resize(
        cv2.imread(str(stills))[:32][rows, columns], (side, side), interpolation=cv2.INTER_NEAREST
    )
    shown = cv2.imread(str(mouth))
    assert shown.shape == (2 * side, 3 * side, 3) and rows.stop - rows.start < 32
    assert np.array_equal(shown[:side, :side], expected)  # the frame's own mouth, enlarged


def test_the_novel_view_table_scores_turned_and_frontal_frames_against_base(capsys):
    def group(psnr: float, frames: int) -> dict:
        return {
            "frames": frames,
            "psnr": psnr,
            "ssim": 0.9,
            "lpips": 0.1,
            "outline_psnr": 15.0,
            "tracked": {"psnr": psnr - 2, "ssim": 0.8, "lpips": 0.2, "outline_psnr": 14.0},
        }

    def run(turned: float, frontal: float) -> dict:
        bins = [{"yaw": "-30..-20", **group(turned - 1, 4)}, {"yaw": "+20..+30", **group(turned + 1, 6)}]
        novel = {
            "limit": 4.5,
            "gap": 10.0,
            "turned": group(turned, 10),
            "frontal": group(frontal, 5),
            "bins": bins,
        }
        return {"novel_view": novel, "commit": "abc1234", "machine": "tiny VM"}

    novel_view = benchmark_module("novel_view")
    assert set(novel_view.ROWS) >= {"base", "mirror", "mirrored_frames"}
    novel_view.print_tables(
        {("d3", "base"): [run(20.0, 28.0)], ("d3", "mirror"): [run(21.0, 27.9), run(22.0, 27.9)]}
    )
    lines = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| d3")]
    scores, bins, gains = lines[:2], lines[2:6], lines[6:]
    assert scores[0][3:6] == ["±4.5°", "10", "20.00 / 18.00"] and scores[1][5] == "21.50 ±0.50 / 19.50"
    assert scores[1][8:11] == ["15.00 / 14.00", "5", "27.90 ±0.00 / 25.90"]
    assert [cells[2] for cells in bins] == ["-30..-20", "+20..+30"] * 2 and bins[3][
        4
    ] == "22.50 ±0.50 / 20.50 |"
    assert gains == [["| d3", "mirror", "+1.50 / +1.50", "-0.10 / -0.10 |"]]


def test_a_row_with_subjects_of_its_own_trains_on_one_and_is_scored_on_the_other(tmp_path, monkeypatch):
    """The few-shot study's check without the clip's help: photos preprocessed alone train, the
    clip tracked as their person scores."""
    import argparse

    ablation = benchmark_module("ablation")
    calls = []

    def run_headsplat(command: str, *options: str, env: dict) -> None:
        calls.append((command, *options))
        if command == "eval":
            (Path(options[0]) / "eval").mkdir(parents=True)
            (Path(options[0]) / "eval" / "metrics.json").write_text('{"psnr": 20.0}')

    monkeypatch.setattr(ablation, "run_headsplat", run_headsplat)
    study = ablation.Study(
        rows={"own": ()},
        plan=(),
        results=tmp_path,
        tracking="photometric",
        own_subjects={"own": lambda out, clip, env: (out / f"{clip}-photos", out / f"{clip}-video")},
    )
    args = argparse.Namespace(reuse=False, keep_eval=False, steps=None, eval_frames=5)
    assert ablation.run_one(tmp_path, "s", study, ("c", "own", 0), args, {}) == {"psnr": 20.0}
    (train, subject, *_), (evaluate, *eval_options) = calls
    assert (train, subject, evaluate) == ("train", str(tmp_path / "c-photos"), "eval")
    assert eval_options[-2:] == ["--subject", str(tmp_path / "c-video")]


def test_a_run_is_recorded_with_its_provenance_and_not_run_again(tmp_path):
    """A table printed right after a run reads the run's provenance (its commit) as it would
    from the record; a recorded run is not run again."""
    import argparse

    common = benchmark_module("common")
    args = argparse.Namespace(results=tmp_path, rerun=False, table=False)
    calls = []

    def run() -> dict:
        calls.append(1)
        return {"psnr": 20.0, "per_frame": [1, 2]}

    first = common.recorded_or_run(args, "clip-row-s0", run)
    again = common.recorded_or_run(args, "clip-row-s0", run)
    assert len(calls) == 1 and "commit" in first and "machine" in first and "per_frame" not in first
    assert again == first == json.loads((tmp_path / "clip-row-s0.json").read_text())


def test_the_children_density_is_gaussians_per_area_whatever_the_triangles_sizes():
    """A grid of unequal triangles holding Gaussians in proportion to their areas has one density
    everywhere; one triangle holding more shows as a peak around it."""
    children = benchmark_module("deformation_children")
    xs = np.array([0.0, 0.5, 2.0, 2.5, 4.0, 6.0])  # unequal columns
    grid = np.stack(np.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    positions = np.concatenate([grid, np.zeros((len(grid), 1))], axis=1)
    quads = [
        (i * 6 + j, (i + 1) * 6 + j, (i + 1) * 6 + j + 1, i * 6 + j + 1) for i in range(5) for j in range(5)
    ]
    triangles = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    corners = positions[triangles]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    density = children.vertex_density(3.0 * area, positions, triangles)
    np.testing.assert_allclose(density, 3.0, rtol=1e-9)
    more = 3.0 * area
    more[24] += 10.0  # a triangle in the middle
    peak = children.vertex_density(more, positions, triangles) - density
    assert peak.argmax() in triangles[24] and peak.min() >= 0


def test_the_fewshot_study_bins_test_frames_by_their_distance_to_the_training_frames(
    synthetic_subject, tmp_path, capsys
):
    """The synthetic head turns from -20 to +20 degrees over ten frames (4.44 apart), 8 and 9
    held out; one training frame is the most face-on, frame 4 (-2.2 degrees)."""
    fewshot = benchmark_module("fewshot")
    assert (
        len(fewshot.FEWSHOT.plan) == 3 * 5 * 2 + 3 * 2 + 5 + 9 + 2
        and fewshot.FEWSHOT.train_frames["n3_cpu"] == 3
    )
    assert (
        fewshot.FEWSHOT.train_frames["n3_no_mirrored"] == 3
        and "mirrored.share=0" in fewshot.FEWSHOT.rows["n3_no_mirrored"]
    )
    angles, distances = fewshot.nearest_training(synthetic_subject, [8, 9])
    np.testing.assert_allclose(angles, [40 / 9, 80 / 9], atol=1e-3)
    assert not distances.any()  # the head at rest throughout
    one = tmp_path / "one"
    assert main(["split", str(synthetic_subject), "-o", str(one), "--train-frames", "1"]) == 0
    metrics = {"per_frame": {"frame": [8, 9], "psnr": [20.0, 18.0]}}
    found = fewshot.extrapolation(metrics, one)["extrapolation"]
    assert [(g["bin"], g["frames"], g["psnr"]) for g in found["angle"][1:]] == [
        ("10-20", 1, 20.0),
        ("20+", 1, 18.0),
    ]
    assert found["angle"][0]["frames"] == 0 and found["expression"][0] == {
        "bin": "0-1",
        "frames": 2,
        "psnr": 19.0,
    }

    def run(psnr: float, train: float) -> dict:
        return {
            "psnr": psnr,
            "lpips": 0.1,
            "tracked": {"psnr": psnr - 2, "lpips": 0.1},
            "train_refined": {"psnr": train},
            "training_minutes": 3.0,
            "extrapolation": fewshot.extrapolation(metrics, one)["extrapolation"],
        }

    capsys.readouterr()
    fewshot.print_fewshot_tables(
        {
            ("d9", "n1"): [run(18.0, 30.0), run(19.0, 31.0)],
            ("d9", "base"): [run(24.0, 26.0)],
            ("d9", "n1_no_uv_prior"): [run(18.0, 29.0)],
            ("d9", "n1_unaided"): [run(17.0, 29.0)],
            ("d8", "base"): [run(25.0, 26.0)],
        }
    )
    printed = capsys.readouterr().out.splitlines()
    assert "| d8 | - | 25.00 / 23.00 |" in printed  # a clip without every N: its curve has gaps
    lines = [line for line in printed if line.startswith("| d9")]
    # A prior's row, and the photos preprocessed alone, against the preset's at its N with the
    # clip's tracking, not against the video's avatar.
    assert lines.pop(0).startswith("| d9 | n1_no_uv_prior | n1 | 1 / 2 | -0.50 / -0.50 |")
    assert lines.pop(0).startswith("| d9 | n1_unaided | n1 | 1 / 2 | -1.50 / -1.50 |")
    assert lines[0] == "| d9 | 18.50 / 16.50 | 24.00 / 22.00 |"  # the curve: N across
    assert lines[1] == "| d9 | n1 | 30.50 | 18.50 | 12.00 | 3.0 |"  # the overfitting gap
    assert lines[5].startswith("| d9 | n1 | - (0) | 20.00 (1) | 18.00 (1)")
    fewshot.write_curve(
        {("d9", "n1"): [run(18.0, 30.0)], ("d9", "base"): [run(24.0, 26.0)]}, tmp_path / "c.png"
    )
    curve = cv2.imread(str(tmp_path / "c.png"))[..., ::-1]
    blue = np.abs(curve.astype(int) - [31, 119, 180]).sum(-1) < 10  # matplotlib's first colour, d9's
    assert curve.shape == (400, 640, 3) and blue.sum() > 200
