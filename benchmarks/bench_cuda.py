"""CUDA kernels against their bandwidth bound and against PyTorch, on one GPU.

    python benchmarks/bench_cuda.py [--dtype float16] [--repeats 50]

Needs a GPU, PyTorch with CUDA and a zoo built with ZOO_WITH_CUDA=ON. Times are
medians of CUDA-event timings on one stream, all cases in the same process:

* bias+activation: ours vs a device-to-device copy of the same bytes (the bound
  for a read-once write-once kernel) and vs PyTorch's eager act(x + b).
* fused dense y = act(x @ w + b): ours (cuBLASLt epilogue or matmul + our
  kernel; the path taken is printed) vs PyTorch's plain matmul (the GEMM alone,
  a lower bound), vs matmul then a separate bias+act launch of ours, and vs
  PyTorch's act(linear(x)) as a peer.

Prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float16", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()

    try:
        import torch
    except ImportError:
        print("PyTorch is needed (its CUDA tensors carry the data)", file=sys.stderr)
        return 2
    from zoo import _C

    if not hasattr(_C, "cuda"):
        print("zoo was built without ZOO_WITH_CUDA=ON", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA GPU visible", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = getattr(torch, args.dtype)
    stream = torch.cuda.current_stream().cuda_stream

    def timed(fn) -> float:
        """Median milliseconds of fn() on the current stream."""
        for _ in range(5):
            fn()
        times = []
        for _ in range(args.repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    torch_act = {
        "relu": torch.relu,
        "gelu": lambda t: torch.nn.functional.gelu(t),
        "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
        "silu": torch.nn.functional.silu,
    }
    rows = []

    # --- bias + activation -------------------------------------------------
    for shape in [(4096, 4096), (16384, 1024), (65536, 256)]:
        x = torch.randn(shape, device="cuda", dtype=dtype)
        b = torch.randn(shape[-1], device="cuda", dtype=dtype)
        y = torch.empty_like(x)
        nbytes = 2 * x.numel() * x.element_size()  # read x, write y
        copy_ms = timed(lambda: y.copy_(x))
        for act in ["relu", "gelu", "gelu_tanh", "silu"]:
            ours = timed(lambda: _C.cuda.bias_act(x, b, y, activation=act, stream=stream))
            peer = timed(lambda: torch_act[act](x + b))
            rows.append((f"bias_act {act}", "x".join(map(str, shape)), ours,
                         f"{nbytes / ours / 1e6:.0f} GB/s ({copy_ms / ours:.0%} of copy)",
                         f"torch eager {peer:.3f} ms", ""))

    # --- fused dense -------------------------------------------------------
    for m, k, n in [(4096, 4096, 4096), (8192, 1024, 4096), (512, 4096, 4096)]:
        x = torch.randn(m, k, device="cuda", dtype=dtype)
        w = torch.randn(k, n, device="cuda", dtype=dtype) / k**0.5
        b = torch.randn(n, device="cuda", dtype=dtype)
        y = torch.empty(m, n, device="cuda", dtype=dtype)
        z = torch.empty_like(y)
        flops = 2 * m * n * k
        gemm_ms = timed(lambda: torch.matmul(x, w, out=z))
        for act in ["relu", "gelu_tanh", "gelu"]:
            path = _C.cuda.dense(x, w, b, y, activation=act, stream=stream)
            ours = timed(lambda: _C.cuda.dense(x, w, b, y, activation=act, stream=stream))

            def unfused():
                torch.matmul(x, w, out=z)
                _C.cuda.bias_act(z, b, y, activation=act, stream=stream)

            split = timed(unfused)
            wt = w.t().contiguous()
            peer = timed(lambda: torch_act[act](torch.nn.functional.linear(x, wt, b)))
            rows.append((f"dense {act}", f"{m}x{k}x{n}", ours,
                         f"{flops / ours / 1e9:.0f} TFLOP/s; GEMM alone {gemm_ms:.3f} ms",
                         f"GEMM+bias_act {split:.3f} ms; torch {peer:.3f} ms", path))

    props = torch.cuda.get_device_properties(0)
    print(f"\n{props.name}, {args.dtype}, PyTorch {torch.__version__}, "
          f"zoo CUDA archs {_C.cuda.build_info()['archs']}, median of {args.repeats}\n")
    print("| case | shape | ours (ms) | against the bound | against peers | path |")
    print("|---|---|---:|---|---|---|")
    for case, shape, ms, bound, peers, path in rows:
        print(f"| {case} | {shape} | {ms:.3f} | {bound} | {peers} | {path} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
