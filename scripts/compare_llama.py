#!/usr/bin/env python3
"""Issue 13's side-by-side measurement: llama.cpp's (ggml's) CPU kernels against qamw's fused GEMVs, interleaved in one
run (round 1: every llama.cpp kernel, then `qamw bench`; round 2: the same; ...), medians over the rounds.

Per round and thread count T:
  * llama.cpp `test-quantize-perf --op vec_dot_q --size 45088768 --type TYPE` (T = 1 only; 45088768 = 11008·4096):
    one vec_dot over the whole length, weights and an already quantized activation (Q8_K, or Q8_0 for Q8_0) both
    streamed (the activation is as long as the weights); the activation's quantization is not timed. G weights/s from its "float32 throughput".
  * llama.cpp `test-backend-ops perf -o MUL_MAT -b CPU` on 4096 rows × 14336 columns, n = 1, at T threads: the whole
    op, i.e. the f32 activation quantized once (Q8_K / Q8_0) and then vec_dot per row with that activation in cache.
  * `qamw bench --threads T --shapes ... --bits ... --skip-gemm --json`: its f32-lookup fused GEMV (rotation of x,
    then the row kernels on f32 x̃) and its integer GEMV (rotation, activation quantized once to int8 / int16, then
    the integer row kernels), each per call including those steps. Against vec_dot_q: its GEMVs in bench's
    interleaved rounds (each call finds its codes evicted by the other GEMVs of the round); against MUL_MAT: the same
    GEMVs called back to back ("warm", the cache state of test-backend-ops, which repeats one op). With --d8-bits, a
    second `qamw bench ... --codebook d8 --bits D8BITS` times the d8 codebooks (rows "k = K d8").

usage:
  python3 scripts/compare_llama.py --llama LLAMA_BUILD [--qamw build/tools/qamw] [--threads 1[,2,...]] [--rounds 3]
      [--reps 5] [--shapes 11008x4096,4096x14336] [--bits 7,8,9,11] [--types q4_K,iq4_xs,q5_K,q6_K,q8_0]
      [--d8-bits 9,10,11] [--no-vec-dot] [--save FILE.json] [--doc ID]
  python3 scripts/compare_llama.py --load FILE.json --doc ID      # render a saved run (e.g. from another machine)

--doc ID replaces the text between <!-- compare_llama:ID:begin --> and <!-- compare_llama:ID:end --> in
docs/PERFORMANCE.md; without it the tables are printed. LLAMA_BUILD may also be given as $QAMW_LLAMA_BUILD.

llama.cpp is never part of this project; build it outside the repo. Its ggml library (github.com/ggml-org/ggml, the
tree these commands are for) has both programs in tests/; llama.cpp's own tree has them in its tests/ (not tried here). test-backend-ops runs as many threads as the
machine has cores; for a thread count of our choosing, its N_THREADS macro is made to read $GGML_N_THREADS first
(this script refuses a build without that change):
  sed -i 's|^#   define N_THREADS std::thread::hardware_concurrency()$|#   define N_THREADS (std::getenv("GGML_N_THREADS") ? (unsigned) std::atoi(std::getenv("GGML_N_THREADS")) : std::thread::hardware_concurrency())|' SRC/tests/test-backend-ops.cpp
  cmake -S SRC -B LLAMA_BUILD -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_BUILD_TESTS=ON -DGGML_BUILD_EXAMPLES=OFF
  cmake --build LLAMA_BUILD -j2 --target test-quantize-perf test-backend-ops
"""
import argparse, json, os, platform, re, statistics, subprocess, sys

BPW = {"q4_K": 4.5, "iq4_xs": 4.25, "q5_K": 5.5, "q6_K": 6.5625, "q8_0": 8.5, "bf16": 16.0, "f32": 32.0, "f16": 16.0}
MM_ROWS, MM_COLS, VEC_DOT_SIZE = 4096, 14336, 45088768
# Bytes per weight of the activation operand vec_dot reads (Q8_K: 292 bytes per 256 values; Q8_0: 34 per 32; the
# float types read their own type): test-quantize-perf streams it from memory beside the weights.
ACT_BYTES = {"q8_0": 34 / 32, "bf16": 2.0, "f16": 2.0, "f32": 4.0}
Q8_K_BYTES = 292 / 256


def ints(s):
    try:
        v = [int(x) for x in s.split(",") if x]
    except ValueError:
        v = []
    if not v or min(v) < 1:
        sys.exit(f"compare_llama: --threads: '{s}' is not a comma-separated list of positive integers")
    return v


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"compare_llama: `{' '.join(cmd)}` failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout


def vec_dot(llama, t):
    """G weights/s of one vec_dot over VEC_DOT_SIZE values (test-quantize-perf's mean over its iterations)."""
    out = run([f"{llama}/bin/test-quantize-perf", "--op", "vec_dot_q", "--size", str(VEC_DOT_SIZE), "--type", t, "-i", "10"])
    m = re.search(r"float32 throughput\s*:\s*([0-9.]+) GB/s", out)
    if not m:
        sys.exit(f"compare_llama: no throughput for {t} in test-quantize-perf's output:\n{out}")
    return float(m.group(1)) * 2**30 / 4 / 1e9  # its GB/s are 2^30 bytes of f32 input, 4 bytes per weight


def mul_mat(llama, t, threads):
    """G weights/s of MUL_MAT, MM_ROWS × MM_COLS weights of type t times one f32 vector, on `threads` threads."""
    flt = rf"^type_a={re.escape(t)},type_b=f32,m={MM_ROWS},n=1,k={MM_COLS},bs=\[1,1\],nr=\[1,1\],"
    out = run([f"{llama}/bin/test-backend-ops", "perf", "-o", "MUL_MAT", "-b", "CPU", "-p", flt],
              env=dict(os.environ, GGML_N_THREADS=str(threads)))
    us = re.findall(r"runs -\s*([0-9.]+) us/run", out)
    if len(us) != 1:
        sys.exit(f"compare_llama: expected one MUL_MAT result for {t}, got {len(us)}:\n{out}")
    return MM_ROWS * MM_COLS / (float(us[0]) * 1e-6) / 1e9


def qamw_bench(exe, threads, reps, shapes, bits, d8_bits):
    """`qamw bench` of the lm2d codebooks at `bits` and, with d8_bits, of the d8 codebooks at those k (a second call,
    its rows appended; each row names its codebook)."""
    cmd = [exe, "bench", "--threads", str(threads), "--reps", str(reps), "--shapes", shapes, "--skip-gemm", "--json"]
    out = json.loads(run(cmd + ["--bits", bits]))
    cmds = [" ".join(cmd + ["--bits", bits])]
    if d8_bits:
        out["results"] += json.loads(run(cmd + ["--codebook", "d8", "--bits", d8_bits]))["results"]
        cmds.append(" ".join(cmd + ["--codebook", "d8", "--bits", d8_bits]))
    return "`, `".join(cmds), out


def machine():
    info = {"machine": platform.machine(), "cores": os.cpu_count(), "cpu": platform.processor(), "flags": ""}
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            key, _, val = line.partition(":")
            if key.strip() == "model name":
                info["cpu"] = val.strip()
            elif key.strip() == "flags":
                info["flags"] = val.strip()
                break
    return info


def measure(a):
    llama = a.llama or os.environ.get("QAMW_LLAMA_BUILD")
    if not llama:
        sys.exit("compare_llama: give the llama.cpp build folder (--llama or $QAMW_LLAMA_BUILD); see --help")
    for prog in ("test-quantize-perf", "test-backend-ops"):
        if not os.access(f"{llama}/bin/{prog}", os.X_OK):
            sys.exit(f"compare_llama: {llama}/bin/{prog} is missing; build it as --help says")
    if not os.access(a.qamw, os.X_OK):
        sys.exit(f"compare_llama: {a.qamw} is not an executable qamw (--qamw; build the target qamw_cli)")
    if b"GGML_N_THREADS" not in open(f"{llama}/bin/test-backend-ops", "rb").read():
        sys.exit("compare_llama: this test-backend-ops ignores $GGML_N_THREADS (it would run one thread per core); "
                 "patch and rebuild it as --help says")
    threads, types, shapes = ints(a.threads), [t for t in a.types.split(",") if t], a.shapes.split(",")
    if f"{MM_ROWS}x{MM_COLS}" not in shapes or (1 in threads and not a.no_vec_dot and "11008x4096" not in shapes):
        sys.exit(f"compare_llama: --shapes must hold {MM_ROWS}x{MM_COLS} (MUL_MAT's shape) and, with vec_dot_q, 11008x4096")
    for t in types:
        if t not in BPW:
            sys.exit(f"compare_llama: --types: unknown type '{t}' (known: {', '.join(BPW)})")
    res = {"machine": machine(), "threads": threads, "types": types, "rounds": [], "qamw_cmd": {},
           "command": "python3 scripts/compare_llama.py " + " ".join(sys.argv[1:])}
    for r in range(a.rounds):
        rnd = {"load_before": os.getloadavg(), "vec_dot": {}, "mul_mat": {}, "qamw": {}}
        for t in threads:
            if t == 1 and not a.no_vec_dot:
                for ty in types:
                    rnd["vec_dot"][ty] = vec_dot(llama, ty)
            rnd["mul_mat"][str(t)] = {ty: mul_mat(llama, ty, t) for ty in types}
            cmd, rnd["qamw"][str(t)] = qamw_bench(a.qamw, t, a.reps, a.shapes, a.bits, a.d8_bits)
            res["qamw_cmd"][str(t)] = cmd
            print(f"round {r + 1}/{a.rounds}, {t} thread(s) done (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        rnd["load_after"] = os.getloadavg()
        res["rounds"].append(rnd)
        if a.save:  # after every round, so that an interrupted run keeps the rounds it finished
            json.dump(res, open(a.save, "w"), indent=1)
    return res


def spread(v):
    """'median (min–max)' of the rounds' values."""
    return f"{statistics.median(v):.2f}" if len(v) == 1 else f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"


def family(x):
    """The codebook family of a bench row ("lm2d" for rows of builds before the d8 family)."""
    return x.get("codebook", "lm2d")


def qamw_rows(res, t):
    """{(shape, k, codebook family): [per-round bench rows]} of thread count t."""
    rows = {}
    for rnd in res["rounds"]:
        for x in rnd["qamw"][str(t)]["results"]:
            rows.setdefault((f"{x['rows']}×{x['cols']}", x["bits"], family(x)), []).append(x)
    return rows


def ratio_line(res, num, den, need, what):
    """The median over rounds of num ÷ den (both measured in the same round) against the target `need`."""
    r = statistics.median(num(rnd) / den(rnd) for rnd in res["rounds"])
    verdict = "**met**" if r >= need else f"**not met**, short by {need / r:.2f}×"
    return f"- {what}: {spread([num(rnd) / den(rnd) for rnd in res['rounds']])}× (target ≥ {need:g}×): {verdict}."


def qamw_lines(res, columns, bw=None):
    """Table lines of the qamw GEMVs: per k the f32-lookup and the integer path; one cell per (shape, thread count,
    warm) column — warm: the GEMV called back to back (like MUL_MAT), else in bench's interleaved rounds (codes evicted)."""
    rows = {t: qamw_rows(res, t) for _, t, _ in columns}
    shape0, t0, _ = columns[0]
    out = []
    for k, fam in sorted({(k, f) for _, k, f in rows[t0]}, key=lambda kf: (kf[1] != "lm2d", kf)):
        for label, key in (("f32-lookup", "gemv"), ("integer", "int_gemv")):
            x0 = rows[t0][(shape0, k, fam)][0]
            path = f" ({x0['int_gemv_path']})" if key.startswith("int") else ""
            field = lambda warm: f"{key}_warm_gweights_per_s" if warm else f"{key}_gweights_per_s"
            cells = [spread([x[field(w)] for x in rows[t][(s, k, fam)]]) for s, t, w in columns]
            if bw:  # GB/s of codes in the last column, and its share of the memory read bandwidth
                s, t, w = columns[-1]
                g = statistics.median(x[field(w)] for x in rows[t][(s, k, fam)]) * x0["bpw"] / 8
                cells.append(f"{g:.1f} ({100 * g / bw:.0f} %)")
            name = f"k = {k}" + ("" if fam == "lm2d" else f" {fam}")
            out.append(f"| qamw {name} {label}{path} | {x0['bpw'] / 8:.3f} | " + " | ".join(cells) + " |")
    return out


def int_gemv(shape, k, t, warm, fam="lm2d"):
    """Picks the integer GEMV's G weights/s of (shape, k, codebook family) at t threads out of one round (warm: back to
    back)."""
    key = "int_gemv_warm_gweights_per_s" if warm else "int_gemv_gweights_per_s"
    return lambda rnd: next(x[key] for x in rnd["qamw"][str(t)]["results"]
                            if f"{x['rows']}×{x['cols']}" == shape and x["bits"] == k and family(x) == fam)


def measured(res, t, k, fam):
    """Whether the rounds hold the integer GEMV of (k, codebook family) at t threads."""
    return any(x["bits"] == k and family(x) == fam for x in res["rounds"][0]["qamw"][str(t)]["results"])


def render(res):
    m, R, T, types = res["machine"], len(res["rounds"]), res["threads"], res["types"]
    loads = [l for rnd in res["rounds"] for l in (rnd["load_before"][0], rnd["load_after"][0])]
    bw = lambda t: statistics.median(rnd["qamw"][str(t)]["memory_read_gb_per_s"] for rnd in res["rounds"])
    isa = " ".join(f for f in ("avx2", "avx512f", "avx512bw", "avx512vbmi", "avx512_vnni", "avx_vnni", "amx_int8") if f in m["flags"].split())
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['machine']} ({isa}); qamw kernels "
           f"`{res['rounds'][0]['qamw'][str(T[0])]['isa']}`. {R} interleaved rounds; medians (min–max over the rounds). "
           f"1-minute load average {min(loads):.2f}–{max(loads):.2f} during the run. Memory read bandwidth (qamw bench, "
           f"512 MB plain read): " + ", ".join(f"{bw(t):.1f} GB/s on {t} thread(s)" for t in T) + ".", "",
           f"Command: `{res['command']}`; qamw side in every round: " +
           ", ".join(f"`{res['qamw_cmd'][str(t)]}`" for t in T) + ".", ""]
    if res["rounds"][0]["vec_dot"]:
        big, mm = "11008×4096", f"{MM_ROWS}×{MM_COLS}"
        out += ["G weights/s, one thread. llama.cpp: `test-quantize-perf --op vec_dot_q --size 45088768` (= 11008·4096) "
                f"and `test-backend-ops perf -o MUL_MAT` on {mm}, n = 1; qamw: `qamw bench` GEMVs of {big} (in bench's "
                f"interleaved rounds: codes evicted, as vec_dot_q streams its operands) and {mm} (called back to back, "
                f"as MUL_MAT is: warm).", "",
                "Bytes/weight: the weights' own (codes and scales); vec_dot_q also streams its Q8 activation, "
                "given after the +.", "",
                f"| kernel | bytes/weight | vec_dot_q 45088768 / qamw {big} | MUL_MAT / qamw {mm} |", "|---|---|---|---|"]
        for ty in types:
            out.append(f"| llama.cpp {ty} | {BPW[ty] / 8:.3f} + {ACT_BYTES.get(ty, Q8_K_BYTES):.3f} | "
                       f"{spread([rnd['vec_dot'][ty] for rnd in res['rounds']])} | "
                       f"{spread([rnd['mul_mat']['1'][ty] for rnd in res['rounds']])} |")
        out += qamw_lines(res, [(big, 1, False), (mm, 1, True)])
        out += ["", "Targets of issue 13, one thread (ratios formed within each round; median, min–max):"]
        for k, fam, ty, need in ((8, "lm2d", "q4_K", 2), (11, "lm2d", "q5_K", 1), (11, "d8", "q5_K", 1)):
            if ty in types and measured(res, 1, k, fam):
                name = f"k = {k}" + ("" if fam == "lm2d" else f" {fam}")
                out.append(ratio_line(res, int_gemv(big, k, 1, False, fam), lambda rnd, ty=ty: rnd["vec_dot"][ty], need,
                                      f"{name} integer GEMV {big} ÷ {ty} vec_dot_q (the issue's measure)"))
                out.append(ratio_line(res, int_gemv(mm, k, 1, True, fam), lambda rnd, ty=ty: rnd["mul_mat"]["1"][ty], need,
                                      f"{name} integer GEMV {mm} ÷ {ty} MUL_MAT (whole GEMV on both sides)"))
        out.append("")
    if len(T) > 1 or not res["rounds"][0]["vec_dot"]:
        mm = f"{MM_ROWS}×{MM_COLS}"
        out += [f"G weights/s, {mm}, n = 1, by thread count. llama.cpp: `GGML_N_THREADS=T test-backend-ops perf -o MUL_MAT "
                "-b CPU`; qamw: `qamw bench --threads T` GEMVs called back to back (warm, as MUL_MAT is).", "",
                "| kernel | bytes/weight | " + " | ".join(f"{t} thr." for t in T) +
                f" | GB/s of weights at {T[-1]} thr. (% of the memory read bandwidth) |", "|---|---|" + "---|" * (len(T) + 1)]
        for ty in types:
            g = statistics.median(rnd["mul_mat"][str(T[-1])][ty] for rnd in res["rounds"]) * BPW[ty] / 8
            out.append(f"| llama.cpp {ty} | {BPW[ty] / 8:.3f} | " +
                       " | ".join(spread([rnd["mul_mat"][str(t)][ty] for rnd in res["rounds"]]) for t in T) +
                       f" | {g:.1f} ({100 * g / bw(T[-1]):.0f} %) |")
        out += qamw_lines(res, [(mm, t, True) for t in T], bw(T[-1]))
        out += ["", f"Targets of issue 13 at {T[-1]} threads (ratios formed within each round; median, min–max):"]
        for k, fam, ty in ((8, "lm2d", "q4_K"), (11, "lm2d", "q5_K"), (11, "d8", "q5_K")):
            if ty in types and measured(res, T[-1], k, fam):
                name = f"k = {k}" + ("" if fam == "lm2d" else f" {fam}")
                out.append(ratio_line(res, int_gemv(mm, k, T[-1], True, fam), lambda rnd, ty=ty: rnd["mul_mat"][str(T[-1])][ty], 1,
                                      f"{name} integer GEMV ÷ {ty} MUL_MAT"))
        out.append("")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llama", help="llama.cpp / ggml build folder (with bin/test-quantize-perf, bin/test-backend-ops)")
    p.add_argument("--qamw", default="build/tools/qamw")
    p.add_argument("--threads", default="1", help="comma-separated thread counts (vec_dot_q runs at 1 only)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5, help="qamw bench --reps")
    p.add_argument("--shapes", default="11008x4096,4096x14336")
    p.add_argument("--bits", default="7,8,9,11")
    p.add_argument("--types", default="q4_K,iq4_xs,q5_K,q6_K,q8_0")
    p.add_argument("--d8-bits", default="", help="also time the d8 codebooks at these k (qamw bench --codebook d8)")
    p.add_argument("--no-vec-dot", action="store_true", help="skip test-quantize-perf")
    p.add_argument("--save", help="write the raw measurements to this JSON file")
    p.add_argument("--load", help="render a saved run instead of measuring")
    p.add_argument("--doc", help="write the tables into docs/PERFORMANCE.md between this ID's markers")
    a = p.parse_args()
    if a.rounds < 1:
        sys.exit("compare_llama: --rounds must be >= 1")
    if a.load:
        res = json.load(open(a.load))
    else:
        res = measure(a)
    text = render(res)
    if a.doc:
        doc = open("docs/PERFORMANCE.md").read()
        begin, end = f"<!-- compare_llama:{a.doc}:begin -->", f"<!-- compare_llama:{a.doc}:end -->"
        if begin not in doc or end not in doc:
            sys.exit(f"compare_llama: docs/PERFORMANCE.md has no {begin} ... {end} markers")
        doc = doc[:doc.index(begin) + len(begin)] + "\n" + text + "\n" + doc[doc.index(end):]
        open("docs/PERFORMANCE.md", "w").write(doc)
    print(text)


if __name__ == "__main__":
    main()
