#!/usr/bin/env python3
"""Regenerates docs/RESULTS.md: quality of QAM-W (with and without activation-aware scaling) at 3.5, 4, 4.5 and 5.5
bits per weight and of the baselines at 3.5, 4 and 5.5 on the shared models, measured with `qamw eval` (PPL, KL
divergence against the f32 run on the same tokens, top-1 agreement). Calibration statistics come from the calibration tokens only.

usage: python3 scripts/results.py [--windows N] [--qamw build/tools/qamw] [--shared ../shared] [--threads N]
Every command it runs is printed and listed in the document. Also draws docs/rate_quality.png (house-a heldout mean
KLD against true bpw; matplotlib: scripts/require.sh python3-matplotlib).
"""
import argparse, json, math, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--windows", type=int, default=150, help="windows of house-a per token file (stories260K: all)")
ap.add_argument("--qamw", default="build/tools/qamw")
ap.add_argument("--shared", default="../shared")
ap.add_argument("--threads", default="2")
ap.add_argument("--tmp", help="work directory; results of commands already run there are reused")
ap.add_argument("--skip", action="append", default=[], help="skip a token file by name, e.g. wikitext2")
ap.add_argument("--only", action="append", default=[],
                help="run only these families (f32 always), e.g. qamw+awq and qamw+awq+fb; the table then goes to "
                     "docs/results-partial.md / .json instead of docs/RESULTS.md")
args = ap.parse_args()
tmp = args.tmp or tempfile.mkdtemp(prefix="qamw_results_")
os.makedirs(tmp, exist_ok=True)
commands = []

def run(cmd):
    cmd = [str(c) for c in cmd]
    line = " ".join(cmd)
    commands.append(line.replace(tmp, "$TMP"))
    cache = os.path.join(tmp, "cache-%08x.json" % (hash_of(line)))
    if os.path.exists(cache):
        return json.load(open(cache))
    print("+", line, file=sys.stderr, flush=True)
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    json.dump(out, open(cache, "w"))
    return out

def run_timed(cmd):
    """run() under /usr/bin/time -v: adds wall_seconds and max_rss_kb of the whole command to its JSON."""
    cmd = [str(c) for c in cmd]
    line = " ".join(cmd)
    commands.append(line.replace(tmp, "$TMP"))
    cache = os.path.join(tmp, "cache-%08x.json" % (hash_of("timed " + line)))
    if os.path.exists(cache):
        return json.load(open(cache))
    print("+", line, file=sys.stderr, flush=True)
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, check=True, capture_output=True, text=True)
    out = json.loads(p.stdout)
    for l in p.stderr.splitlines():
        l = l.strip()
        if l.startswith("Maximum resident set size"):
            out["max_rss_kb"] = int(l.split(":")[1])
        if l.startswith("Elapsed (wall clock)"):
            t = l.split("):")[1].strip().split(":")
            out["wall_seconds"] = sum(float(x) * 60 ** i for i, x in enumerate(reversed(t)))
    json.dump(out, open(cache, "w"))
    return out

def wanted(family):
    return not args.only or family in args.only

def quantize(families, timed, cmd):
    """A quantize command, run unless --only leaves out every family that uses it (its result is then None)."""
    if not any(wanted(f) for f in families.split(",")):
        return None
    return run_timed(cmd) if timed else run(cmd)

def hash_of(s):
    import zlib
    return zlib.crc32(s.encode())

S = args.shared
models = [
    ("house-a", f"{S}/models/house-a", 512, args.windows, f"{S}/data/tokens/calib-gutenberg.llama2sp.i32",
     [("heldout-gutenberg", f"{S}/data/tokens/heldout-gutenberg.llama2sp.i32"),
      ("wikitext2", f"{S}/data/tokens/wikitext2-test.llama2sp.i32")]),
    ("stories260K", f"{S}/models/stories260K", 256, 0, None,
     [("tinystories", f"{S}/data/tokens/tinystories-valid.tok512.i32")]),
]
# (bpw, k, scalar baseline, RTN baseline); 4.5 bpw (k = 9) is QAM-W only: it is compared with llama.cpp's Q4_K_M.
rates = [(3.5, 7, "scalar:3", "rtn128:3"), (4.0, 8, "scalar:4", "rtn128:4"), (4.5, 9, None, None),
         (5.5, 11, "scalar:5", "rtn128:5")]
# --bpw R of the allocated rows (any R in [2, 6]; the targets)
alloc_rates = [3.75, 3.85, 4.25, 4.8, 5.0]
rows = []
quant_times = []
alloc_runs = []  # (model, family, R, quantize JSON)
for name, path, ctx, windows, calib, token_files in models:
    win = ["--windows", windows] if windows else []
    stats = None
    if calib:
        stats = f"{tmp}/{name}.stats.safetensors"
        run([args.qamw, "stats", path, "--tokens", calib, "--out", stats, "--ctx", ctx, "--max-tokens", 65536,
             "--second-moments", "--threads", args.threads, "--json"])
        # all calibration tokens (262,144 for house-a): E[x x^T] of down_proj (1536^2) from 65,536 tokens is too noisy
        # for error feedback (house-a k=8 heldout KLD 0.0193 with 65,536 tokens, 0.0153 with all of them)
        stats_all = f"{tmp}/{name}.stats-all.safetensors"
        run([args.qamw, "stats", path, "--tokens", calib, "--out", stats_all, "--ctx", ctx,
             "--second-moments", "--threads", args.threads, "--json"])
    variants = []  # (label, family, model path, extra eval args)
    for bpw, k, scalar, rtn in rates:
        out = f"{tmp}/{name}.k{k}.qamw.safetensors"
        q = quantize("qamw", False, [args.qamw, "quantize", path, out, "--bits-per-pair", k, "--threads", args.threads, "--json"])
        variants.append((f"QAM-W k={k}", "qamw", out, [], q and q["bpw_quantized"]))
        if stats:
            out_awq = f"{tmp}/{name}.k{k}.awq.qamw.safetensors"
            qa = quantize("qamw+awq,qamw+awq+int", True, [args.qamw, "quantize", path, out_awq, "--bits-per-pair", k, "--act-stats", stats,
                      "--threads", args.threads, "--json"])
            variants.append((f"QAM-W + AWQ k={k}", "qamw+awq", out_awq, [], qa and qa["bpw_quantized"]))
            # the same container through the integer-domain kernels (quantized activations; the engine's integer path, qamw/engine.hpp)
            variants.append((f"QAM-W + AWQ k={k}, integer kernels", "qamw+awq+int", out_awq, ["--integer"],
                             qa and qa["bpw_quantized"]))
            # error feedback under E[x x^T] (tools/common/feedback.hpp), 65,536 and all calibration tokens
            out_fb = f"{tmp}/{name}.k{k}.awq.fb.qamw.safetensors"
            qf = quantize("qamw+awq+fb", True, [args.qamw, "quantize", path, out_fb, "--bits-per-pair", k, "--act-stats", stats,
                            "--feedback", "--threads", args.threads, "--json"])
            variants.append((f"QAM-W + AWQ + feedback k={k}", "qamw+awq+fb", out_fb, [], qf and qf["bpw_quantized"]))
            out_fba = f"{tmp}/{name}.k{k}.awq-all.fb.qamw.safetensors"
            qfa = quantize("qamw+awq+fb-all", True, [args.qamw, "quantize", path, out_fba, "--bits-per-pair", k, "--act-stats", stats_all,
                             "--feedback", "--threads", args.threads, "--json"])
            variants.append((f"QAM-W + AWQ + feedback k={k}, all calibration tokens", "qamw+awq+fb-all", out_fba, [],
                             qfa and qfa["bpw_quantized"]))
            if k == 8:  # isolates the effect of the larger calibration set on AWQ alone
                out_aa = f"{tmp}/{name}.k{k}.awq-all.qamw.safetensors"
                qaa = quantize("qamw+awq-all", False, [args.qamw, "quantize", path, out_aa, "--bits-per-pair", k, "--act-stats", stats_all,
                           "--threads", args.threads, "--json"])
                variants.append((f"QAM-W + AWQ k={k}, all calibration tokens", "qamw+awq-all", out_aa, [],
                                 qaa and qaa["bpw_quantized"]))
            if k in (9, 11):  # the d8 codebooks (codebooks/d8.hpp): the same AWQ, f32 and integer kernels
                out_d8 = f"{tmp}/{name}.k{k}.awq.d8.qamw.safetensors"
                qd = quantize("qamw+awq+d8,qamw+awq+d8+int", False, [args.qamw, "quantize", path, out_d8, "--bits-per-pair", k,
                              "--codebook", "d8", "--act-stats", stats, "--threads", args.threads, "--json"])
                variants.append((f"QAM-W + AWQ k={k}, d8 codebook", "qamw+awq+d8", out_d8, [], qd and qd["bpw_quantized"]))
                variants.append((f"QAM-W + AWQ k={k}, d8 codebook, integer kernels", "qamw+awq+d8+int", out_d8, ["--integer"],
                                 qd and qd["bpw_quantized"]))
            if qa and qf:
                quant_times.append((name, k, qa, qf))
            if k == 11:  # the whole model at 5.5 bpw: the tied token embedding / lm_head quantized too
                out_all = f"{tmp}/{name}.k{k}.awq.embedding.qamw.safetensors"
                qe = quantize("qamw+awq+embed", False, [args.qamw, "quantize", path, out_all, "--bits-per-pair", k, "--act-stats", stats,
                          "--include", "model.embed_tokens.weight", "--threads", args.threads, "--json"])
                variants.append((f"QAM-W + AWQ k={k}, embedding too", "qamw+awq+embed", out_all, [], qe and qe["bpw_quantized"]))
        if scalar:
            for spec, fam in ((f"polar:{k}", "polar"), (scalar, "scalar"), (rtn, "rtn128")):
                variants.append((spec, fam, path, ["--fake-quant", spec], None))
    if stats:
        # bit allocation (docs/ALLOCATION.md): k per tensor for the true rate R from sensitivities measured on the
        # calibration tokens, cached per statistics file and reused by every R; AWQ alone (65,536-token statistics, as
        # the uniform AWQ rows) and with error feedback (all calibration tokens, as the best uniform feedback rows)
        for fam, st, fb, tag in (("qamw+awq+alloc", stats, [], "sensitivity"),
                                 ("qamw+awq+fb-all+alloc", stats_all, ["--feedback"], "sensitivity-all")):
            for R in alloc_rates:
                out_al = f"{tmp}/{name}.bpw{R}.{fam}.qamw.safetensors"
                qal = quantize(fam, True, [args.qamw, "quantize", path, out_al, "--bpw", R, "--allocate", "--calib", calib,
                                 "--act-stats", st, *fb, "--sensitivity", f"{tmp}/{name}.{tag}.json",
                                 "--threads", args.threads, "--json"])
                label = f"QAM-W + AWQ{' + feedback' if fb else ''} allocated --bpw {R}"
                variants.append((label, fam, out_al, [], qal and qal["bpw_quantized"]))
                if qal:
                    alloc_runs.append((name, fam, R, qal))
    for tok_name, tok in token_files:
        if tok_name in args.skip:
            continue
        base = f"{tmp}/{name}.{tok_name}.base"
        f32 = run([args.qamw, "eval", path, "--tokens", tok, "--ctx", ctx, *win, "--threads", args.threads,
                   "--save-base", base, "--json"])
        rows.append(dict(model=name, tokens=tok_name, codec="f32", family="f32", bpw=32.0, ppl=f32["ppl"],
                         dppl=0.0, kld=0.0, top1=1.0, windows=f32["windows"], tps=f32["tokens_per_second"],
                         weight_mb=f32["weight_bytes"] / 1e6))
        for label, fam, mpath, extra, bpw in variants:
            if args.only and fam not in args.only:
                continue
            r = run([args.qamw, "eval", mpath, "--tokens", tok, "--ctx", ctx, *win, "--threads", args.threads,
                     "--kld-base", base, *extra, "--json"])
            rows.append(dict(model=name, tokens=tok_name, codec=label, family=fam, bpw=r["linear_bpw"], ppl=r["ppl"],
                             dppl=100 * (r["ppl"] / f32["ppl"] - 1), kld=r["kld"]["mean"], kld_se=r["kld"]["se"],
                             top1=r["kld"]["top1_agreement"], windows=r["windows"], tps=r["tokens_per_second"],
                             weight_mb=r["weight_bytes"] / 1e6))

def spearman(x, y):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for t in range(i, j + 1):
                r[order[t]] = (i + j) / 2
            i = j + 1
        return r
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den

q = [r for r in rows if r["codec"] != "f32"]
rho = spearman([r["kld"] for r in q], [r["dppl"] for r in q])
out = ["# Results: quality at a given size", "",
       "Regenerate: `python3 scripts/results.py` (needs a Release build; see the commands at the end). Linear layers",
       "quantized; token embeddings and lm_head (tied) stay f32 except in the \"embedding too\" row. bpw = true bits per weight of the quantized",
       "tensors (codes + all side information). KLD = mean KL(P_f32 ‖ P_quantized) over the scored positions",
       "(top-32 exact + sampled tail estimate, see tools/eval/perplexity.hpp), top-1 = agreement of the argmax.",
       f"house-a: {args.windows} windows of 512 per token file; stories260K: all windows of 256. AWQ statistics: "
       "house-a's calibration tokens (65,536 tokens), never the evaluation tokens; stories260K has no calibration text, so no AWQ row.",
       "QAM-W rows run through the fused rotated-domain kernels; baselines (polar, scalar Lloyd-Max, RTN) are evaluated",
       "on their reconstructed weights (`--fake-quant`), so their memory and speed are those of the f32 model.",
       f"tokens/s: `qamw eval --threads {args.threads}` on a shared 2-core machine (other jobs ran beside it); weights in",
       "memory: everything the evaluator holds (QAM-W rows: packed linear layers + the f32 token embedding / tied lm_head).", ""]
for name, _, _, _, _, token_files in models:
    for tok_name, _ in token_files:
        if tok_name in args.skip:
            out += [f"## {name} · {tok_name}", "", "Not measured in this run (`--skip " + tok_name + "`).", ""]
            continue
        out += [f"## {name} · {tok_name}", "", "| codec | bpw | PPL | ΔPPL % | mean KLD | top-1 | weights in memory MB | tokens/s |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["model"] == name and r["tokens"] == tok_name:
                out.append(f"| {r['codec']} | {r['bpw']:.3f} | {r['ppl']:.4f} | {r['dppl']:+.2f} | {r['kld']:.5f} | {r['top1']:.4f} | "
                           f"{r['weight_mb']:.1f} | {r['tps']:.0f} |")
        out.append("")
out += [f"Spearman ρ between mean KLD and ΔPPL % over all {len(q)} quantized rows: **{rho:.3f}** (the paper reports 0.99).", "",
        ""]
if quant_times:
    out += ["## Error feedback: quantization cost", "",
            "`qamw quantize --act-stats S --feedback` (tools/common/feedback.hpp) against the same command without",
            "--feedback (AWQ search + nearest rounding), both on --threads " + args.threads + " of the shared 2-core machine.",
            "Proxy = E‖(W − Ŵ)x‖² / E‖Wx‖² summed over all quantized tensors under the calibration E[x xᵀ].", "",
            "Wall time and peak RSS of the whole command (`/usr/bin/time -v`: loading, AWQ search, quantization, writing).", "",
            "| model | k | AWQ: wall s | AWQ: peak MB | AWQ + feedback: wall s | AWQ + feedback: peak MB | proxy nearest | proxy feedback |",
            "|---|---|---|---|---|---|---|---|"]
    for name, k, qa, qf in quant_times:
        fb = qf["feedback"]
        out.append(f"| {name} | {k} | {qa['wall_seconds']:.1f} | {qa['max_rss_kb'] / 1024:.0f} | {qf['wall_seconds']:.1f} | "
                   f"{qf['max_rss_kb'] / 1024:.0f} | {fb['proxy_relative_nearest']:.3e} | {fb['proxy_relative_feedback']:.3e} |")
    out.append("")
if alloc_runs:
    out += ["## Bit allocation: cost and prediction", "",
            "`qamw quantize --bpw R --allocate --calib T --act-stats S [--feedback] --sensitivity F` (docs/ALLOCATION.md).",
            "The first R of each family measures the sensitivities (then cached in F); wall time of the whole command.", "",
            "| model | family | R | true bpw | planned bpw | predicted KLD (calibration) | sensitivity s | quantize wall s |",
            "|---|---|---|---|---|---|---|---|"]
    for name, fam, R, q in alloc_runs:
        al = q["allocation"]
        sens = "cached" if al["sensitivity_cached"] else f"{al['sensitivity_seconds']:.1f}"
        out.append(f"| {name} | {fam} | {R} | {q['bpw_quantized']:.4f} | {al['planned_bpw']:.4f} | {al['predicted_kld']:.5f} | "
                   f"{sens} | {q['wall_seconds']:.1f} |")
    out.append("")
out += ["## Commands", "", "```"] + commands + ["```", ""]
os.makedirs("docs", exist_ok=True)

def rate_quality_plot(rows, path):
    """Mean KLD (log) against true bpw on house-a heldout-gutenberg; on a partial run the families it did not run
    come from docs/results.json."""
    subprocess.run(["scripts/require.sh", "python3-matplotlib"], check=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = [r for r in rows if r["model"] == "house-a" and r["tokens"] == "heldout-gutenberg"]
    if args.only and os.path.exists("docs/results.json"):
        pts += [r for r in json.load(open("docs/results.json")) if r["model"] == "house-a"
                and r["tokens"] == "heldout-gutenberg" and r["family"] not in args.only]
    curves = [("qamw+awq", "QAM-W + AWQ, uniform k", "o-"), ("qamw+awq+alloc", "QAM-W + AWQ, allocated", "s-"),
              ("qamw+awq+fb-all", "QAM-W + AWQ + feedback, uniform k", "o--"),
              ("qamw+awq+fb-all+alloc", "QAM-W + AWQ + feedback, allocated", "s--"),
              ("qamw", "QAM-W, uniform k (no AWQ)", "o:"), ("polar", "polar", "^-"),
              ("scalar", "scalar Lloyd-Max", "v-"), ("rtn128", "RTN (groups of 128)", "x-")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fam, label, style in curves:
        c = sorted((r["bpw"], r["kld"]) for r in pts if r["family"] == fam)
        if c:
            ax.plot([x for x, _ in c], [y for _, y in c], style, label=label, markersize=4)
    ax.set_yscale("log")
    ax.set_xlabel("true bits per weight of the quantized tensors")
    ax.set_ylabel("mean KL divergence to f32 (nats)")
    ax.set_title("house-a, heldout-gutenberg, %d windows of 512" % args.windows)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})

if any(r["model"] == "house-a" and r["tokens"] == "heldout-gutenberg" for r in rows):
    rate_quality_plot(rows, "docs/rate_quality.png")
if args.only:
    open("docs/results-partial.md", "w").write("\n".join(out))
    json.dump(rows, open("docs/results-partial.json", "w"), indent=1)
else:
    open("docs/RESULTS.md", "w").write("\n".join(out))
    json.dump(rows, open("docs/results.json", "w"), indent=1)
print("\n".join(out))
