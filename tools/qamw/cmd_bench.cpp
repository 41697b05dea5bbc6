// tools/qamw/cmd_bench.cpp — `qamw bench`: throughput of encode, decode, fused GEMV and GEMM beside the bandwidth bound
// (a plain read of the same packed bytes) and the f32 / bf16 baselines of the same matrix, measured in one run.
#include "commands.hpp"
#include "common/bench_cases.hpp"

#include "common/json_out.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>

namespace qamw::cli {

const command_spec bench_spec{
    "qamw bench [--shapes RxC,...] [--bits K,...] [--codebook lm2d|d8] [--threads N] [--reps N] [--json]",
    "Medians over --reps runs (default 5) of: encode (M weights/s), decode to f32 (G weights/s), fused GEMV\n"
    "(G weights/s and GB/s of packed codes), a plain read of the same packed bytes (GB/s: the bandwidth bound), Eigen\n"
    "f32 GEMV and a bf16 GEMV of the same matrix (G weights/s), and GEMM at m = 16 and 128 beside Eigen f32 GEMM\n"
    "(GFLOP/s). The integer-domain GEMV (qamw/engine.hpp int_dot_rows) runs beside the f32-lookup GEMV in the same rounds\n"
    "(int Gw/s, and int/f32 their ratio). The four GEMVs run in turn in every round, as do each GEMM and its Eigen baseline, so their ratios\n"
    "compare the same moments of machine load; in those rounds each GEMV finds its codes evicted by the others. 'warm'\n"
    "columns: the fused and the integer GEMV again, each called back to back (codes left in cache when they fit). Defaults: shapes 4096x4096,11008x4096,4096x11008, k = 7,8,11 (--codebook d8: 9,10,11), threads 1.",
    {{"shapes", "LIST", "comma-separated RxC shapes"},
     {"bits", "LIST", "comma-separated k values"},
     {"codebook", "FAMILY", "codebook family of the timed tensors: lm2d (default) or d8 (k = 9, 10, 11)"},
     {"threads", "N", "threads for every kernel (default 1)", integer(1, max_threads())},
     {"reps", "N", "repetitions per measurement (default 5)", integer(1, 1000)},
     {"skip-gemm", "", "skip the GEMM measurements"},
     {"int-gemm-m", "M", "also measure the integer GEMM against the f32 fused GEMM at m = M (default: not measured)",
      integer(1, 4096)},
     {"json", "", "print one JSON object"}},
    0,
    0};

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

/// Median wall times of `reps` rounds, each calling every f once in turn, after one warm-up call of each. Kernels
/// compared as ratios are measured in the same rounds, so a change of machine load between them shifts all alike.
std::vector<double> interleaved_medians(int reps, const std::vector<std::function<void()>>& fs) {
    for (const auto& f : fs) f();
    std::vector<std::vector<double>> t(fs.size());
    for (int i = 0; i < reps; ++i)
        for (std::size_t j = 0; j < fs.size(); ++j) {
            auto t0 = std::chrono::steady_clock::now();
            fs[j]();
            t[j].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    std::vector<double> med;
    for (auto& v : t) {
        std::sort(v.begin(), v.end());
        med.push_back(v[v.size() / 2]);
    }
    return med;
}

/// Median wall time of `reps` calls of f, after one warm-up call.
double median_seconds(int reps, const std::function<void()>& f) { return interleaved_medians(reps, {f})[0]; }

}  // namespace

int run_bench(const args& a) {
    const int threads = static_cast<int>(a.get_int("threads", 1)), reps = static_cast<int>(a.get_int("reps", 5));
    if (reps < 1) throw error(errc::invalid_argument, "--reps must be >= 1");
    std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
    for (const auto& s : split(a.get("shapes", "4096x4096,11008x4096,4096x11008"))) {
        const auto x = s.find('x');
        const std::string rs = s.substr(0, x), cs = x == std::string::npos ? "" : s.substr(x + 1);
        char *e1 = nullptr, *e2 = nullptr;  // point into rs and cs, which outlive the check
        const long long r = std::strtoll(rs.c_str(), &e1, 10), c = std::strtoll(cs.c_str(), &e2, 10);
        if (r < 1 || c < 1 || *e1 || *e2) throw error(errc::invalid_argument, "--shapes: '" + s + "' is not RxC");
        if (r > (1 << 20) || c > (1 << 20) || r * c > (std::int64_t{1} << 31))
            throw error(errc::invalid_argument, "--shapes: '" + s + "' is too large (R, C <= 2^20, R*C <= 2^31)");
        shapes.emplace_back(r, c);
    }
    const codebook_family family = parse_codebook_family(a.get("codebook", "lm2d"), "--codebook");
    std::vector<int> ks;
    for (const auto& s : split(a.get("bits", family == codebook_family::d8 ? "9,10,11" : "7,8,11"))) {
        if (!cli_detail::check_value(integer(min_bits, max_bits), s).empty())
            throw error(errc::invalid_argument, "--bits: '" + s + "' is not an integer in [" +
                                                    std::to_string(min_bits) + ", " + std::to_string(max_bits) + "]");
        ks.push_back(std::stoi(s));
    }
    for (int k : ks)
        if (!family_has_bits(family, k))
            throw error(errc::invalid_argument, "--codebook d8: codebook d8 exists for k = 9, 10, 11 (--bits gives " +
                                                    std::to_string(k) + ")");
    for (int k : ks) tools::codebook_for(k, family);  // builds the codebooks outside the timings

    // The machine's memory bandwidth: a plain read of 512 MB, far beyond every cache.
    std::vector<std::uint8_t> big(std::size_t{512} << 20, 1);
    const double membw = double(big.size()) / median_seconds(reps, [&] { tools::read_bytes(big.data(), big.size(), threads); }) / 1e9;
    big = {};

    const kernel_table& kt = select_kernels();
    tools::json_out out = tools::json_out::object();
    out["isa"] = isa_name(kt.id);
    out["threads"] = threads;
    out["reps"] = reps;
    out["memory_read_gb_per_s"] = membw;
    tools::json_out& rows = (out["results"] = tools::json_out::array());
    const bool json = a.has("json");
    if (!json) {
        std::printf("kernels: %s, codebook: %s, threads: %d, medians of %d runs; memory read bandwidth %.1f GB/s (512 MB)\n\n",
                    isa_name(kt.id), family_name(family), threads, reps, membw);
        std::printf("%-11s %3s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %8s\n", "shape", "k", "enc Mw/s", "dec Gw/s",
                    "gemv Gw/s", "int Gw/s", "int/f32", "warm gemv", "warm int", "read GB/s", "f32 Gw/s", "bf16 Gw/s", "mm16 GF", "f32 GF", "mm128 GF",
                    "f32 GF");
    }
    for (auto [r, c] : shapes) {
        for (int k : ks) {
            tools::bench_matrix m(r, c, k, threads, kt, family);
            const double W = m.weights(), B = double(m.packed_bytes());
            auto x = tools::gaussian_vector(3, std::size_t(c));
            std::vector<float> y(static_cast<std::size_t>(r));
            params p;
            p.bits = k;
            p.family = family;
            double t_enc = median_seconds(std::max(1, reps / 2), [&] { encode(tools::codebook_for(k, family), m.w.data(), r, c, p, nullptr, on_threads{threads}, kt); });
            std::vector<float> decoded(static_cast<std::size_t>(r * c));  // preallocated: measure decoding, not page faults
            double t_dec = median_seconds(reps, [&] {
                parallel_for(static_cast<std::size_t>(r), threads, [&](std::size_t r0, std::size_t r1) {
                    std::vector<float> scratch(m.mm->prepared().decode_scratch_floats());
                    decode_rows(m.mm->prepared(), std::int64_t(r0), std::int64_t(r1), decoded.data() + r0 * std::size_t(c),
                                scratch.data(), kt);
                });
            });
            const std::vector<double> t_mv = interleaved_medians(reps, {
                [&] { m.mm->gemv(x.data(), y.data(), threads); },
                [&] { tools::read_bytes(m.q.codes.data(), m.packed_bytes(), threads); },
                [&] { tools::eigen_gemv(m, x.data(), y.data(), threads); },
                [&] { tools::bf16_gemv(m, x.data(), y.data(), threads); },
                [&] { m.imm->gemv(x.data(), y.data(), threads); }});
            const double t_gemv = t_mv[0], t_read = t_mv[1], t_f32 = t_mv[2], t_bf16 = t_mv[3], t_int = t_mv[4];
            // The same two fused GEMVs back to back, each call finding the codes where the previous one left them
            // (in cache when they fit): the cache state of an engine's repeated products and of llama.cpp's
            // `test-backend-ops perf`. Above, the other GEMVs of each round evict them first.
            const double t_gemv_warm = median_seconds(reps, [&] { m.mm->gemv(x.data(), y.data(), threads); });
            const double t_int_warm = median_seconds(reps, [&] { m.imm->gemv(x.data(), y.data(), threads); });
            tools::json_out row = tools::json_out::object();
            row["rows"] = r;
            row["cols"] = c;
            row["bits"] = k;
            row["codebook"] = family_name(family);
            row["bpw"] = m.q.bits_per_weight();
            row["encode_mweights_per_s"] = W / t_enc / 1e6;
            row["decode_gweights_per_s"] = W / t_dec / 1e9;
            row["gemv_gweights_per_s"] = W / t_gemv / 1e9;
            row["gemv_packed_gb_per_s"] = B / t_gemv / 1e9;
            row["int_gemv_gweights_per_s"] = W / t_int / 1e9;
            row["gemv_warm_gweights_per_s"] = W / t_gemv_warm / 1e9;
            row["int_gemv_warm_gweights_per_s"] = W / t_int_warm / 1e9;
            row["int_gemv_path"] = int_path_of(m.imm->prepared(), kt);
            row["read_packed_gb_per_s"] = B / t_read / 1e9;
            row["eigen_f32_gemv_gweights_per_s"] = W / t_f32 / 1e9;
            row["bf16_gemv_gweights_per_s"] = W / t_bf16 / 1e9;
            double gf[4] = {0, 0, 0, 0};
            if (!a.has("skip-gemm")) {
                int i = 0;
                for (std::size_t n : {16, 128}) {
                    auto X = tools::gaussian_vector(4, n * std::size_t(c));
                    std::vector<float> Y(n * std::size_t(r));
                    int gr = std::max(1, reps / 2);
                    const std::vector<double> t_mm = interleaved_medians(gr, {
                        [&] { m.mm->gemm(X.data(), n, Y.data(), threads); },
                        [&] { tools::eigen_gemm(m, X.data(), n, Y.data(), threads); }});
                    gf[i++] = 2.0 * double(n) * W / t_mm[0] / 1e9;
                    gf[i++] = 2.0 * double(n) * W / t_mm[1] / 1e9;
                }
                row["gemm16_gflops"] = gf[0];
                row["eigen_gemm16_gflops"] = gf[1];
                row["gemm128_gflops"] = gf[2];
                row["eigen_gemm128_gflops"] = gf[3];
            }
            double igf[2] = {0, 0};
            if (a.has("int-gemm-m")) {
                const std::size_t n = static_cast<std::size_t>(a.get_int("int-gemm-m", 512));
                auto X = tools::gaussian_vector(4, n * std::size_t(c));
                std::vector<float> Y(n * std::size_t(r));
                const std::vector<double> t_mm = interleaved_medians(std::max(1, reps / 2), {
                    [&] { m.mm->gemm(X.data(), n, Y.data(), threads); },
                    [&] { m.imm->gemm(X.data(), n, Y.data(), threads); }});
                igf[0] = 2.0 * double(n) * W / t_mm[0] / 1e9, igf[1] = 2.0 * double(n) * W / t_mm[1] / 1e9;
                row["int_gemm_m"] = static_cast<std::int64_t>(n);
                row["f32_fused_gemm_gflops"] = igf[0];
                row["int_gemm_gflops"] = igf[1];
            }
            rows.push_back(row);
            if (!json) {
                std::printf("%5lldx%-5lld %3d %9.1f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %8.1f %8.1f %8.1f %8.1f\n",
                            static_cast<long long>(r), static_cast<long long>(c), k, W / t_enc / 1e6, W / t_dec / 1e9,
                            W / t_gemv / 1e9, W / t_int / 1e9, t_gemv / t_int, W / t_gemv_warm / 1e9, W / t_int_warm / 1e9,
                            B / t_read / 1e9, W / t_f32 / 1e9,
                            W / t_bf16 / 1e9, gf[0], gf[1], gf[2], gf[3]);
                if (a.has("int-gemm-m"))
                    std::printf("            gemm m = %lld: f32 fused %.1f GFLOP/s, int %.1f GFLOP/s (x%.2f)\n",
                                a.get_int("int-gemm-m", 512), igf[0], igf[1], igf[1] / igf[0]);
            }
        }
    }
    if (json) std::printf("%s\n", tools::dump_json(out).c_str());
    return 0;
}

}  // namespace qamw::cli
