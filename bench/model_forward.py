"""CPU forward cost of MultiModalCNN per fusion type: parameters, FLOPs, latency of three execution paths.

Paths compared (one 3.6 s window = MFCC (10, 156) + 15 RGB frames 224x224):
  eager   model.eval() under torch.no_grad, contiguous (NCHW) tensors — how OpenDR runs it;
  im+cl   torch.inference_mode + channels_last weights/activations;
  ts      torch.jit.trace + torch.jit.freeze (conv-BN folding) of the eager model, under inference_mode;
  ts+cl   the same, traced from the channels_last model (what an exporter should do);
  ort     ONNX export of the eager model (``avemotion export``'s settings) run by onnxruntime on CPU
          with the same number of intra-op threads.
Usage: python bench/model_forward.py [--threads 2] [--repeats 3] [--batches 1 8] [--fusions ia it lt]
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

from avemotion_core.labels import IMAGE_SIZE, MFCC_FRAMES, N_MFCC, SEQ_LENGTH  # noqa: E402
from avemotion_core.model import FUSIONS, MultiModalCNN  # noqa: E402
from avemotion_core.model.export import write_onnx  # noqa: E402

PATHS = ("eager", "im+cl", "ts", "ts+cl", "ort")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line(threads: int) -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
        f"intra-op threads {threads}, load average (1/5/15 min) {load}"
    )


def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch)
    audio = torch.randn(batch, N_MFCC, MFCC_FRAMES, generator=gen)
    video = torch.rand(batch, 3, SEQ_LENGTH, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
    return audio, video


def median_ms(runs: dict[str, Callable[[], torch.Tensor]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time per path; paths are interleaved so load changes on a shared machine hit all alike."""
    for run in runs.values():
        for _ in range(warmup):  # oneDNN primitive creation, TorchScript profiling runs
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's attainable fp32 rate: a large matrix product, the best case for the FMA units.

    Used as the "peak" in the achieved/peak ratio, because CPU clocks and vector widths are not
    always visible in a VM (the EPYC CI kind reports no clock).
    """
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def flops_per_window(model: MultiModalCNN) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs(1))
    return counter.get_total_flops()


def onnx_session(model: MultiModalCNN, threads: int, folder: str):
    """onnxruntime session of ``model`` exported as ``avemotion export`` does (opset 17, dynamic batch)."""
    import onnxruntime

    path = os.path.join(folder, "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_onnx(model, inputs(1), path, opset=17)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # onnxruntime's idle workers spin for a while after each run by default; interleaved with the
    # torch paths, that stole a core from them and inflated the eager figure ~1.6x (85.9 vs 54.9 ms)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def build_paths(fusion: str, threads: int, folder: str) -> dict[str, Callable]:
    torch.manual_seed(0)
    eager = MultiModalCNN(fusion=fusion).eval()
    fast = MultiModalCNN(fusion=fusion)
    fast.load_state_dict(eager.state_dict())
    fast.eval().to(memory_format=torch.channels_last)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace/freeze deprecation notices
        traced = torch.jit.freeze(torch.jit.trace(eager, inputs(1), check_trace=False))
        traced_cl = torch.jit.freeze(torch.jit.trace(fast, inputs(1), check_trace=False))

    def run_eager(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return eager(a, v)

    def run_fast(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return fast(a, v)

    def run_traced(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return traced(a, v)

    def run_traced_cl(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return traced_cl(a, v)

    session = onnx_session(eager, threads, folder)

    def run_ort(a: torch.Tensor, v: torch.Tensor):
        return session.run(["logits"], {"audio": a.numpy(), "video": v.numpy()})

    return {"eager": run_eager, "im+cl": run_fast, "ts": run_traced, "ts+cl": run_traced_cl, "ort": run_ort}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="batch sizes (windows)")
    parser.add_argument("--fusions", nargs="+", default=list(FUSIONS), choices=FUSIONS)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or min(args.batches) < 1:
        parser.error("--threads, --repeats and --batches must be positive")
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads))
    print(
        f"input per window: MFCC {N_MFCC}x{MFCC_FRAMES} + {SEQ_LENGTH} frames 3x{IMAGE_SIZE}x{IMAGE_SIZE}; "
        f"median of {args.repeats} interleaved runs after 2 warm-up runs\n"
    )

    peak = sgemm_gflops()
    header = (
        f"{'fusion':<6} {'params':>10} {'GFLOP/win':>9} {'batch':>5} "
        + " ".join(f"{p + ' ms':>10}" for p in PATHS)
        + "".join(f" {p + ' x':>8}" for p in PATHS[1:])
        + " "
        + " ".join(f"{p + ' GFLOP/s':>14}" for p in PATHS)
        + f" {'%peak':>6}"
    )
    print(header)
    print("-" * len(header))
    wall = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="model_forward_")
    for fusion in args.fusions:
        paths = build_paths(fusion, args.threads, folder)
        model = MultiModalCNN(fusion=fusion).eval()
        params = sum(p.numel() for p in model.parameters())
        flops = flops_per_window(model)
        for batch in args.batches:
            audio, video = inputs(batch)
            runs = {name: (lambda run=run, a=audio, v=video: run(a, v)) for name, run in paths.items()}
            ms = median_ms(runs, args.repeats)
            rates = " ".join(f"{flops * batch / (ms[p] / 1000) / 1e9:>14.2f}" for p in PATHS)
            print(
                f"{fusion:<6} {params:>10,} {flops / 1e9:>9.3f} {batch:>5} "
                + " ".join(f"{ms[p]:>10.1f}" for p in PATHS)
                + "".join(f" {ms['eager'] / ms[p]:>8.2f}" for p in PATHS[1:])
                + " "
                + rates
                + f" {100 * flops * batch / (min(ms.values()) / 1000) / 1e9 / peak:>6.0f}",
                flush=True,
            )
    print("\n(x = speed-up over eager; FLOPs = 2 x multiply-accumulates of conv/matmul, FlopCounterMode)")
    print(f"%peak = the fastest path's GFLOP/s / {peak:.1f} GFLOP/s, this machine's 2048^3 sgemm rate")
    print(f"total {time.perf_counter() - wall:.0f} s; {machine_line(args.threads)}")


if __name__ == "__main__":
    main()
