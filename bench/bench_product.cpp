// bench/bench_product.cpp — fused GEMV / GEMM and decode of QAM-W matrices beside their bounds and baselines, on the
// shapes of issue #3 (4096×4096, 11008×4096, 4096×11008) and k = 7, 8, 11, on 1 and 2 threads.
// Counters: items = weights (GEMV, decode) or multiply-adds (GEMM); bytes = bytes the kernel must read.
// Run: build/bench/qamw_bench --benchmark_filter=gemv --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include "common/bench_cases.hpp"

#include <benchmark/benchmark.h>

#include <map>
#include <tuple>

namespace {

using namespace qamw;
using tools::bench_matrix;

const std::int64_t shapes[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};

bench_matrix& matrix(int shape, int k) {
    static std::map<std::pair<int, int>, std::unique_ptr<bench_matrix>> cache;
    auto& m = cache[{shape, k}];
    if (!m) m = std::make_unique<bench_matrix>(shapes[shape][0], shapes[shape][1], k, 0, select_kernels());
    return *m;
}

void label(benchmark::State& s, const bench_matrix& m, int threads) {
    s.SetLabel(std::to_string(m.rows) + "x" + std::to_string(m.cols) + " k=" + std::to_string(m.bits) + " t=" +
               std::to_string(threads) + " " + isa_name(select_kernels().id));
}

// Args: shape index, k, threads
void gemv_qamw(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), int(s.range(1)));
    int t = int(s.range(2));
    auto x = tools::gaussian_vector(3, std::size_t(m.cols));
    std::vector<float> y(std::size_t(m.rows));
    for (auto _ : s) m.mm->gemv(x.data(), y.data(), t), benchmark::DoNotOptimize(y.data());
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    s.SetBytesProcessed(std::int64_t(s.iterations() * m.packed_bytes()));
    label(s, m, t);
}

void gemv_read_bound(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), int(s.range(1)));
    int t = int(s.range(2));
    for (auto _ : s) benchmark::DoNotOptimize(tools::read_bytes(m.q.codes.data(), m.packed_bytes(), t));
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    s.SetBytesProcessed(std::int64_t(s.iterations() * m.packed_bytes()));
    label(s, m, t);
}

void gemv_eigen_f32(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), 11);
    int t = int(s.range(2));
    auto x = tools::gaussian_vector(3, std::size_t(m.cols));
    std::vector<float> y(std::size_t(m.rows));
    for (auto _ : s) tools::eigen_gemv(m, x.data(), y.data(), t), benchmark::DoNotOptimize(y.data());
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    s.SetBytesProcessed(std::int64_t(s.iterations() * m.weights() * 4));
    label(s, m, t);
}

void gemv_bf16(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), 11);
    int t = int(s.range(2));
    auto x = tools::gaussian_vector(3, std::size_t(m.cols));
    std::vector<float> y(std::size_t(m.rows));
    for (auto _ : s) tools::bf16_gemv(m, x.data(), y.data(), t), benchmark::DoNotOptimize(y.data());
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    s.SetBytesProcessed(std::int64_t(s.iterations() * m.weights() * 2));
    label(s, m, t);
}

// Args: shape, k, threads, batch m
void gemm_qamw(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), int(s.range(1)));
    int t = int(s.range(2));
    std::size_t n = std::size_t(s.range(3));
    auto x = tools::gaussian_vector(4, n * std::size_t(m.cols));
    std::vector<float> y(n * std::size_t(m.rows));
    for (auto _ : s) m.mm->gemm(x.data(), n, y.data(), t), benchmark::DoNotOptimize(y.data());
    s.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * m.weights() * double(s.iterations()) / 1e9,
                                               benchmark::Counter::kIsRate);
    label(s, m, t);
}

void gemm_eigen_f32(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), 11);
    int t = int(s.range(2));
    std::size_t n = std::size_t(s.range(3));
    auto x = tools::gaussian_vector(4, n * std::size_t(m.cols));
    std::vector<float> y(n * std::size_t(m.rows));
    for (auto _ : s) tools::eigen_gemm(m, x.data(), n, y.data(), t), benchmark::DoNotOptimize(y.data());
    s.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * m.weights() * double(s.iterations()) / 1e9,
                                               benchmark::Counter::kIsRate);
    label(s, m, t);
}

void decode_qamw(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), int(s.range(1)));
    int t = int(s.range(2));
    std::vector<float> out(static_cast<std::size_t>(m.weights()));  // preallocated: measure decoding, not page faults
    for (auto _ : s) {
        parallel_for(std::size_t(m.rows), t, [&](std::size_t r0, std::size_t r1) {
            std::vector<float> scratch(m.mm->prepared().decode_scratch_floats());
            decode_rows(m.mm->prepared(), std::int64_t(r0), std::int64_t(r1), out.data() + r0 * std::size_t(m.cols),
                        scratch.data(), select_kernels());
        });
        benchmark::DoNotOptimize(out.data());
    }
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    s.SetBytesProcessed(std::int64_t(s.iterations() * m.weights() * 4));
    label(s, m, t);
}

void encode_qamw(benchmark::State& s) {
    auto& m = matrix(int(s.range(0)), int(s.range(1)));
    params p;
    p.bits = m.bits;
    const int t = int(s.range(2));
    const codebook& cb = tools::codebook_for(m.bits);  // built once, outside the timing
    for (auto _ : s) benchmark::DoNotOptimize(encode(cb, m.w.data(), m.rows, m.cols, p, nullptr, on_threads{t}, select_kernels()));
    s.SetItemsProcessed(std::int64_t(s.iterations() * m.weights()));
    label(s, m, t);
}

void gemv_args(benchmark::internal::Benchmark* b) {
    for (int shape = 0; shape < 3; ++shape)
        for (int k : {7, 8, 11})
            for (int t : {1, 2}) b->Args({shape, k, t});
}
void baseline_args(benchmark::internal::Benchmark* b) {
    for (int shape = 0; shape < 3; ++shape)
        for (int t : {1, 2}) b->Args({shape, 11, t});
}
void gemm_args(benchmark::internal::Benchmark* b) {
    for (int k : {8, 11})
        for (int n : {16, 128}) b->Args({1, k, 1, n});
}

BENCHMARK(gemv_qamw)->Apply(gemv_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(gemv_read_bound)->Apply(gemv_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(gemv_eigen_f32)->Apply(baseline_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(gemv_bf16)->Apply(baseline_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(gemm_qamw)->Apply(gemm_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gemm_eigen_f32)->Args({1, 11, 1, 16})->Args({1, 11, 1, 128})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(decode_qamw)->Apply(baseline_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(encode_qamw)->Args({0, 11, 1})->Args({0, 11, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
