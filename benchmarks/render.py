"""Rasterizer speed: forward and forward+backward time, peak memory, per backend.

    python benchmarks/render.py [--counts 10000 30000 50000 100000] [--sizes 256 512]
                                [--repeats 5] [--backends reference cpu gsplat] [--json PATH]

Scene: :func:`headsplat.render.synthetic.head_scene` (Gaussians covering a head-sized
ellipsoid that fills ~70 % of the image, footprints overlapping like a trained avatar).
Timings are medians of ``--repeats`` runs after a warm-up run; forward+backward back-propagates
image, alpha and depth to every Gaussian parameter. Each configuration runs in a fresh process;
peak memory is its resident-set high-water mark above the level after building the scene
(CPU) or ``max_memory_allocated`` (CUDA).
The ``reference`` backend runs at most ``--reference-max`` Gaussians x pixels (it is an oracle,
slow and memory-hungry); ``speedup`` is the cpu/reference ratio of forward+backward medians
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from headsplat.render import gsplat_available, rasterize
from headsplat.render.synthetic import head_scene


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
    parser.add_argument("--json", type=str, default=None, help="also write the results here")
    parser.add_argument("--one", nargs=3, metavar=("BACKEND", "N", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: one configuration, result as JSON on the last line
        torch.set_num_threads(os.cpu_count() or 1)
        print(json.dumps(measure(args.one[0], int(args.one[1]), int(args.one[2]), args.repeats)))
        return 0
    backends = args.backends or ["reference", "cpu"] + (
        ["gsplat"] if torch.cuda.is_available() and gsplat_available() else []
    )
    rows = []
    columns = ("backend", "N", "size", "fwd ms", "fwd fps", "fwd+bwd ms", "peak MiB", "isects")
    widths = (9, 7, 5, 8, 8, 10, 9, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    for size in args.sizes:
        for n in args.counts:
            for backend in backends:
                if backend == "reference" and n * size * size > args.reference_max:
                    continue
                row = _measure_in_child(backend, n, size, args.repeats)
                rows.append(row)
                values = (backend, n, size, row["forward_ms"], row["forward_fps"])
                values += (row["forward_backward_ms"], row["peak_memory_mib"], row["intersections"])
                print(" ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)), flush=True)
    speedups = []
    for row in rows:
        if row["backend"] != "cpu":
            continue
        ref = [r for r in rows if r["backend"] == "reference" and r["gaussians"] == row["gaussians"]
               and r["size"] == row["size"]]  # fmt: skip
        if ref:
            speedup = ref[0]["forward_backward_ms"] / row["forward_backward_ms"]
            row["speedup_vs_reference"] = round(speedup, 1)
            speedups.append(f"N={row['gaussians']} {row['size']}px: {speedup:.1f}x")
    if speedups:
        print("cpu speed-up over reference (forward+backward): " + ", ".join(speedups))
    machine = {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"machine": machine, "results": rows}, f, indent=2)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
