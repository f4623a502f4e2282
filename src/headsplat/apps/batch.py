"""``headsplat batch MANIFEST -o OUT``: ``fit`` for every subject of a manifest, as Ray tasks.

Each subject (:mod:`headsplat.io.manifest`) is fitted into its own run folder ``OUT/NAME`` by one
Ray task with its own CPUs (and GPUs): the task's torch and numba thread counts are its CPUs, so
tasks never oversubscribe the cores and a subject's numbers do not depend on what ran beside it.
Ray runs embedded on this machine by default (``ray.init()``: nothing to set up) or joins an
existing cluster (``address``). A task that dies (a killed worker, a lost node) is retried; a
subject whose input is bad (no face, a corrupt file) fails with its reason in the summary and the
others go on. A finished subject leaves ``OUT/NAME/batch.json``; a second run skips those and
resumes the rest from their checkpoints (``fit --resume``), so a batch killed in the middle
finishes only what was left.

``OUT/summary.csv`` and the table printed at the end hold one row per subject: status, frames,
landmark error, held-out PSNR/SSIM/LPIPS (refined and tracked), minutes, error.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError
from headsplat.io.manifest import ManifestEntry, read_manifest
from headsplat.io.subject import write_json

RESULT = "batch.json"
"""A subject's row, written when its task ends (a subject whose row says ``done`` is skipped)."""
LOG = "batch.log"
"""A subject's stage messages, appended by its task: what the progress display shows."""
COLUMNS = (
    "name",
    "status",
    "frames",
    "landmark_px",
    "psnr",
    "ssim",
    "lpips",
    "tracked_psnr",
    "tracked_ssim",
    "tracked_lpips",
    "minutes",
    "error",
)


def _log(message: str) -> None:
    print(f"[headsplat batch] {message}", file=sys.stderr, flush=True)


def _limit_threads(cpus: int) -> None:
    """This process's torch and numba thread pools at ``cpus`` threads (Ray sets OMP's)."""
    import numba
    import torch

    torch.set_num_threads(cpus)
    numba.set_num_threads(min(cpus, numba.config.NUMBA_NUM_THREADS))


def fit_subject(entry: ManifestEntry, out: str, options: Sequence[str], cpus: int) -> dict:
    """Fit one subject into ``out/NAME`` (a new run, or the one a killed batch left, resumed);
    returns its summary row and writes it to ``out/NAME/batch.json``. Bad input gives a failed
    row; any other error propagates (Ray retries the task when its worker died)."""
    from headsplat.apps.fit import fit
    from headsplat.apps.options import fit_configs_from_args, fit_parser
    from headsplat.io.run import RunFolder

    _limit_threads(cpus)
    run = Path(out) / entry.name
    run.mkdir(parents=True, exist_ok=True)
    log_file = run / LOG

    def log(message: str) -> None:
        with log_file.open("a") as file:
            file.write(message + "\n")

    start = time.perf_counter()
    row: dict = {"name": entry.name, "status": "failed"}
    try:
        args = fit_parser().parse_args([str(entry.video), "-o", str(run), *options, *entry.options])
        config, preprocess, given = fit_configs_from_args(args)
        # A run a killed batch left continues with the settings it was started with.
        continuing = RunFolder(run).is_run()
        metrics = fit(
            entry.video,
            run,
            config,
            preprocess_config=preprocess,
            resume=continuing,
            settings_given=given and not continuing,
            model_path=args.model,
            log=log,
        )
        row.update(status="done", **_metrics_columns(run, metrics))
    except InputError as error:
        row["error"] = str(error)
        log(f"failed: {error}")
    row["minutes"] = round((time.perf_counter() - start) / 60, 2)
    atomic_write(run / RESULT, lambda p: write_json(p, row))
    return row


def _metrics_columns(run: Path, metrics: dict | None) -> dict:
    """The summary's columns of a finished run (its scores blank where it held no frames out)."""
    meta = json.loads((run / "subject" / "meta.json").read_text())
    counts = {"frames": meta["n_frames"], "landmark_px": round(meta["landmark_error_px"], 2)}
    if metrics is None:
        return counts
    tracked = metrics["tracked"]
    return {
        **counts,
        **{name: round(metrics[name], 4) for name in ("psnr", "ssim", "lpips")},
        **{f"tracked_{name}": round(tracked[name], 4) for name in ("psnr", "ssim", "lpips")},
    }


def check_options(entry: ManifestEntry, options: Sequence[str], manifest: str | Path) -> None:
    """Refuse, before any task starts, options ``fit`` would refuse.

    Raises:
        InputError: naming the subject and the manifest.
    """
    from headsplat.apps.options import fit_parser

    argv = [str(entry.video), "-o", entry.name, *options, *entry.options]
    try:
        fit_parser().parse_args(argv)
    except SystemExit as error:  # argparse has printed why
        raise InputError(
            f"{manifest}: subject {entry.name}: `headsplat fit` refuses the options "
            f"{' '.join([*options, *entry.options])!r} (see above); fix them."
        ) from error


def finished_row(run: Path) -> dict | None:
    """The row of a subject an earlier batch finished, else None (failed ones are tried again)."""
    try:
        row = json.loads((run / RESULT).read_text())
    except (OSError, ValueError):
        return None
    return row if row.get("status") == "done" else None


def _start_ray(address: str | None, cpus: int | None) -> None:
    import ray

    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # Embedded: a Ray of its own ("local": never the cluster a `ray start` on this machine left,
        # which `ray.init()` would join, and where num_cpus is refused), a small object store (tasks
        # exchange rows, not images), no dashboard.
        ray.init(
            address="local",
            num_cpus=cpus,
            include_dashboard=False,
            object_store_memory=200 * 2**20,
            log_to_driver=False,
        )


def _task_environment(cpus: int) -> dict[str, str]:
    """Environment variables of every task: thread counts, and where this driver finds the head
    model and the cache (on a cluster: paths every node sees)."""
    names = ("HEADSPLAT_ICT_MODEL", "HEADSPLAT_CACHE")
    passed = {name: os.environ[name] for name in names if name in os.environ}
    return {"OMP_NUM_THREADS": str(cpus), "NUMBA_NUM_THREADS": str(cpus), **passed}


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return "waiting"
    return lines[-1] if lines else "starting"


def run_batch(
    manifest: str | Path,
    out: str | Path,
    options: Sequence[str] = (),
    *,
    address: str | None = None,
    cpus_per_task: int = 2,
    gpus_per_task: float = 0.0,
    retries: int = 2,
    total_cpus: int | None = None,
    log: Callable[[str], None] = _log,
) -> list[dict]:
    """Fit every subject of ``manifest`` into ``out``; returns the summary rows (manifest order)
    and writes ``out/summary.csv``.

    Args:
        options: ``fit`` options for every subject (a subject's own follow them).
        address: a Ray cluster to join (``ray start --head`` prints it); None: Ray embedded here.
        cpus_per_task / gpus_per_task: each task's share; its threads are its CPUs.
        retries: how often a task whose worker died is started again.
        total_cpus: the CPUs the embedded Ray may use (None: all of this machine's).

    Raises:
        InputError: a bad manifest, or Ray missing (``pip install headsplat[batch]``).
    """
    entries = read_manifest(manifest)
    for entry in entries:
        check_options(entry, options, manifest)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    for entry in entries:
        earlier = finished_row(out / entry.name)
        if earlier is not None:
            rows[entry.name] = {**earlier, "status": "done (earlier)"}
    todo = [entry for entry in entries if entry.name not in rows]
    log(f"{len(entries)} subjects: {len(rows)} finished before, {len(todo)} to fit")
    if todo:
        _run_tasks(todo, out, options, address, cpus_per_task, gpus_per_task, retries, total_cpus, rows, log)
    ordered = [rows[entry.name] for entry in entries]
    atomic_write(out / "summary.csv", lambda p: _write_csv(p, ordered))
    return ordered


def _run_tasks(
    todo: list[ManifestEntry],
    out: Path,
    options: Sequence[str],
    address: str | None,
    cpus: int,
    gpus: float,
    retries: int,
    total_cpus: int | None,
    rows: dict[str, dict],
    log: Callable[[str], None],
) -> None:
    """Run ``todo``'s tasks on Ray and put each one's row into ``rows`` as it ends."""
    try:
        import ray
    except ImportError as error:
        raise InputError("headsplat batch runs on Ray: pip install 'headsplat[batch]'.") from error
    # Ray keeps trying a wrong address for minutes: say which one it is trying.
    log(f"joining the Ray cluster at {address}" if address else "starting Ray on this machine")
    _start_ray(address, total_cpus)
    try:
        task = ray.remote(fit_subject).options(
            num_cpus=cpus,
            num_gpus=gpus,
            max_retries=retries,
            runtime_env={"env_vars": _task_environment(cpus)},
        )
        pending = {task.remote(entry, str(out), list(options), cpus): entry for entry in todo}
        shown: dict[str, str] = {}
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
            for ref in finished:
                entry = pending.pop(ref)
                try:
                    rows[entry.name] = ray.get(ref)
                except ray.exceptions.RayError as error:  # a bug, or a worker dead after its retries
                    rows[entry.name] = {"name": entry.name, "status": "failed", "error": _cause(error)}
                row = rows[entry.name]
                done = len(rows) - sum(r["status"] == "done (earlier)" for r in rows.values())
                log(f"[{done}/{len(todo)}] {entry.name}: {row['status']} {row.get('error', '')}".rstrip())
            for entry in pending.values():
                line = _last_line(out / entry.name / LOG)
                if shown.get(entry.name) != line:
                    shown[entry.name] = line
                    log(f"  {entry.name}: {line}")
    finally:
        ray.shutdown()


def _cause(error: Exception) -> str:
    """The last line of a Ray error's traceback: what went wrong, without Ray's frames."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else "".join(traceback.format_exception_only(error)).strip()


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def summary_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (blank where a subject has no value)."""

    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)
