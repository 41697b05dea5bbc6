#!/usr/bin/env python3
"""Regenerates the measured part of docs/PERFORMANCE.md (between the generated: markers): runs `qamw bench --json` on 1 and 2 threads (all measurements of one table come
from one run, side by side) and writes the tables with the machine, ISA and memory bandwidth.

usage: python3 scripts/performance_doc.py [path/to/qamw] [--reps N] [--shapes RxC,...] [--bits K,...]
"""
import json, os, platform, subprocess, sys

def opt(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default

exe = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "build/tools/qamw"
reps = opt("--reps", "5")
extra = ["--shapes", opt("--shapes", "4096x4096,11008x4096,4096x11008"), "--bits", opt("--bits", "7,8,11")]

def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()

load = os.getloadavg()
runs = []
for t in ("1", "2"):
    cmd = [exe, "bench", "--threads", t, "--reps", reps, *extra, "--json"]
    runs.append((" ".join(cmd), json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)))

out = [f"Machine: {cpu_name()}, {platform.machine()}, kernels `{runs[0][1]['isa']}` (runtime dispatch). Medians of {reps} runs.",
       "Regenerate: `python3 scripts/performance_doc.py` (needs a Release build: `scripts/setup.sh`).", ""]
for cmd, r in runs:
    t = r["threads"]
    bw = r["memory_read_gb_per_s"]
    out += [f"## {t} thread{'s' if t > 1 else ''}", "", f"Command: `{cmd}`. Memory read bandwidth (512 MB plain read, same run): **{bw:.1f} GB/s**.", "",
            "| shape | k | bpw | encode Mw/s | decode Gw/s | fused GEMV Gw/s | GEMV GB/s of codes (% of mem. bw) | plain read of the codes GB/s | Eigen f32 GEMV Gw/s | bf16 GEMV Gw/s | GEMV vs f32 | GEMV vs bf16 | GEMM m=16 GFLOP/s (Eigen) | GEMM m=128 GFLOP/s (Eigen) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["results"]:
        g = x["gemv_gweights_per_s"]
        out.append(f"| {x['rows']}×{x['cols']} | {x['bits']} | {x['bpw']:.3f} | {x['encode_mweights_per_s']:.1f} | {x['decode_gweights_per_s']:.2f} | "
                   f"{g:.2f} | {x['gemv_packed_gb_per_s']:.2f} ({100 * x['gemv_packed_gb_per_s'] / bw:.0f}%) | {x['read_packed_gb_per_s']:.1f} | "
                   f"{x['eigen_f32_gemv_gweights_per_s']:.2f} | {x['bf16_gemv_gweights_per_s']:.2f} | {g / x['eigen_f32_gemv_gweights_per_s']:.2f}× | "
                   f"{g / x['bf16_gemv_gweights_per_s']:.2f}× | {x.get('gemm16_gflops', 0):.1f} ({x.get('eigen_gemm16_gflops', 0):.1f}) | "
                   f"{x.get('gemm128_gflops', 0):.1f} ({x.get('eigen_gemm128_gflops', 0):.1f}) |")
    out.append("")
# Replace the generated part of docs/PERFORMANCE.md, keep the analysis around it.
doc = open("docs/PERFORMANCE.md").read()
begin, end = "<!-- generated:begin -->", "<!-- generated:end -->"
doc = doc[:doc.index(begin) + len(begin)] + "\n" + "\n".join(out) + "\n" + doc[doc.index(end):]
open("docs/PERFORMANCE.md", "w").write(doc)
print("\n".join(out))
