"""Rasterizer speed: forward and forward+backward time, peak memory, per backend.

    python benchmarks/render.py [--counts 10000 30000 50000 100000] [--sizes 256 512]
                                [--repeats 5] [--backends reference cpu gsplat]
    python benchmarks/render.py --table   # the recorded rows, run nothing

Scene: :func:`headsplat.render.synthetic.head_scene` (Gaussians covering a head-sized
ellipsoid that fills ~70 % of the image, footprints overlapping like a trained avatar).
Timings are medians of ``--repeats`` runs after a warm-up run; forward+backward back-propagates
image, alpha and depth to every Gaussian parameter. Each configuration runs in a fresh process;
peak memory is its resident-set high-water mark above the level after building the scene
(CPU) or ``max_memory_allocated`` (CUDA).
The ``reference`` backend runs at most ``--reference-max`` Gaussians x pixels (it is an oracle,
slow and memory-hungry); ``speedup`` is the cpu/reference ratio of forward+backward medians
measured in the same run. The rows are recorded in ``--results`` (:data:`RESULTS`, committed: the
machines keep no files) as ``cpu.json`` or ``cuda.json`` with the commit and the machine, and the
table is printed from that record (``--table``: the record alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table_header, print_table_row, record, recorded
from headsplat.render import gsplat_available, rasterize
from headsplat.render.synthetic import head_scene

RESULTS = Path(__file__).resolve().parent / "results" / "render"


def _median_ms(run: Callable[[], None], repeats: int, sync: Callable[[], None]) -> float:
    run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(backend: str, n: int, size: int, repeats: int) -> dict[str, float | int | str]:
    """Time one backend on one head scene; returns a result row."""
    device = "cuda" if backend == "gsplat" else "cpu"
    scene = head_scene(n, size)
    params = [t.to(device).requires_grad_(True) for t in scene.tensors()]
    camera = (scene.K.to(device), scene.viewmat.to(device), size, size)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward() -> None:
        with torch.no_grad():
            rasterize(*params, *camera, backend=backend)

    def forward_backward() -> None:
        out = rasterize(*params, *camera, backend=backend)
        (out.image.sum() + out.alpha.sum() + out.depth.sum()).backward()
        for p in params:
            p.grad = None

    tiny = head_scene(100, 16)  # load (or compile) the kernels before measuring memory
    tiny_params = [t.to(device).requires_grad_(True) for t in tiny.tensors()]
    out = rasterize(*tiny_params, tiny.K.to(device), tiny.viewmat.to(device), 16, 16, backend=backend)
    (out.image.sum() + out.depth.sum()).backward()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = _max_rss_mib()
    forward_ms = _median_ms(forward, repeats, sync)
    train_ms = _median_ms(forward_backward, repeats, sync)
    with torch.no_grad():
        out = rasterize(*params, *camera, backend=backend)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _max_rss_mib() - rss_before
    return {
        "backend": backend,
        "gaussians": n,
        "size": size,
        "forward_ms": round(forward_ms, 2),
        "forward_fps": round(1000.0 / forward_ms, 1),
        "forward_backward_ms": round(train_ms, 2),
        "peak_memory_mib": round(peak, 1),
        "intersections": out.info.n_intersections,
        "visible": int(out.info.visible.sum()),
    }


def _measure_in_child(backend: str, n: int, size: int, repeats: int) -> dict:
    command = [sys.executable, __file__, "--one", backend, str(n), str(size), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {backend} N={n} {size}px failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 30_000, 50_000, 100_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=None, help="default: every available one")
    parser.add_argument("--reference-max", type=float, default=50_000 * 256 * 256,
                        help="skip reference runs above this many Gaussians x pixels")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the record (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    parser.add_argument("--one", nargs=3, metavar=("BACKEND", "N", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: one configuration, result as JSON on the last line
        torch.set_num_threads(os.cpu_count() or 1)
        print(json.dumps(measure(args.one[0], int(args.one[1]), int(args.one[2]), args.repeats)))
        return 0
    name = "cuda" if torch.cuda.is_available() else "cpu"
    if not args.table:
        backends = args.backends or ["reference", "cpu"] + (
            ["gsplat"] if name == "cuda" and gsplat_available() else []
        )
        rows = [
            _measure_in_child(backend, n, size, args.repeats)
            for size in args.sizes
            for n in args.counts
            for backend in backends
            if backend != "reference" or n * size * size <= args.reference_max
        ]
        cuda = torch.cuda.get_device_name() if name == "cuda" else None
        record(
            args.results, name, {"rows": with_speedups(rows), "repeats": args.repeats, "cuda_device": cuda}
        )
    for which in ("cpu", "cuda"):
        if (measured := recorded(args.results, which)) is not None:
            print_render_table(measured)
    return 0


def with_speedups(rows: list[dict]) -> list[dict]:
    """``rows`` with each cpu row's ``speedup_vs_reference`` (forward+backward medians) where the
    reference backend ran the same scene."""
    for row in rows:
        same = [
            r
            for r in rows
            if r["backend"] == "reference" and (r["gaussians"], r["size"]) == (row["gaussians"], row["size"])
        ]
        if row["backend"] == "cpu" and same:
            row["speedup_vs_reference"] = round(
                same[0]["forward_backward_ms"] / row["forward_backward_ms"], 1
            )
    return rows


def print_render_table(measured: dict) -> None:
    """The recorded rows as a Markdown table, then where and with what they were measured."""
    header = "backend | N | size | forward ms | forward+backward ms | peak MiB | cpu speed-up over reference"
    print_table_header(header)
    for row in measured["rows"]:
        speedup = row.get("speedup_vs_reference")
        times = [f"{row[name]:.0f}" for name in ("forward_ms", "forward_backward_ms", "peak_memory_mib")]
        scene = [row["backend"], f"{row['gaussians']:,}", str(row["size"])]
        print_table_row([*scene, *times, "-" if speedup is None else f"{speedup:.1f}x"])
    device = f", {measured['cuda_device']}" if measured.get("cuda_device") else ""
    print(f"\nmachine: {measured['machine']}{device}; commit {measured['commit']}; medians of "
          f"{measured['repeats']} runs", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
