// bench/bench_codec.cpp — encode and decode throughput of the codec on Gaussian rows, per instruction set, beside a
// plain copy of the same bytes. Counters: weights/s (items), bytes/s of the f32 matrix, and the bpw / relative MSE.
#include "common/metrics.hpp"

#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>

#include <benchmark/benchmark.h>

#include <cstring>

namespace {

using namespace qamw;

const std::vector<float>& matrix(std::int64_t rows, std::int64_t cols) {
    static std::vector<float> w;
    if (w.size() != std::size_t(rows * cols)) w = tools::gaussian_vector(1, std::size_t(rows * cols), 0.02);
    return w;
}

/// The kernels of the benchmark's ISA argument (the reference table when unavailable: the run is marked skipped).
const kernel_table& set_isa(benchmark::State& state, int id) {
    const kernel_table* k = kernels_for(static_cast<isa>(id));
    if (!k) return state.SkipWithError("ISA not available"), *kernels_for(isa::scalar);
    state.SetLabel(isa_name(static_cast<isa>(id)));
    return *k;
}

void bm_encode(benchmark::State& state) {
    const std::int64_t rows = 256, cols = 4096;
    const kernel_table& k = set_isa(state, int(state.range(1)));
    params p;
    p.bits = int(state.range(0));
    const auto& w = matrix(rows, cols);
    const codebook cb(p.bits);  // built once, as an encoder of many tensors does (bm_codebook times building it)
    quantized_tensor q;
    for (auto _ : state) benchmark::DoNotOptimize(q = encode(cb, w.data(), rows, cols, p, nullptr, serial{}, k));
    state.SetItemsProcessed(state.iterations() * rows * cols);
    state.counters["bpw"] = q.bits_per_weight();
    state.counters["rel_mse"] = tools::relative_mse(w, decode(q));
}

/// Building the encoder's codebook of range(0) bits per pair: the table's checksum and the nearest-point index
/// (what encode(..., params) pays on every call, and what a caller-built qamw::codebook pays once).
void bm_codebook(benchmark::State& state) {
    for (auto _ : state) {
        const codebook cb(int(state.range(0)));
        benchmark::DoNotOptimize(cb.index().size());
    }
}

void bm_decode(benchmark::State& state) {
    const std::int64_t rows = 256, cols = 4096;
    const kernel_table& k = set_isa(state, int(state.range(1)));
    params p;
    p.bits = int(state.range(0));
    const auto& w = matrix(rows, cols);
    const quantized_tensor q = encode(w.data(), rows, cols, p);
    const prepared_tensor t(q.view());
    std::vector<float> out(w.size()), scratch(t.decode_scratch_floats());
    for (auto _ : state) decode_rows(t, 0, rows, out.data(), scratch.data(), k), benchmark::DoNotOptimize(out.data());
    state.SetItemsProcessed(state.iterations() * rows * cols);
    state.SetBytesProcessed(state.iterations() * rows * cols * 4);
}

/// 1024 rows of 4096 at k = 11 through one prepared tensor, decoded in calls of range(0) rows each (1: an engine
/// fetching embedding rows one token at a time; 1024: one call). The per-call cost is the row-range overhead.
void bm_decode_calls(benchmark::State& state) {
    const std::int64_t rows = 1024, cols = 4096, per_call = state.range(0);
    params p;
    const auto& w = matrix(rows, cols);
    const quantized_tensor q = encode(w.data(), rows, cols, p);
    const prepared_tensor t(q.view());
    const kernel_table& k = select_kernels();
    std::vector<float> out(w.size()), scratch(t.decode_scratch_floats());
    for (auto _ : state) {
        for (std::int64_t r = 0; r < rows; r += per_call)
            decode_rows(t, r, r + per_call, out.data() + r * cols, scratch.data(), k);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * rows * cols);
    state.SetLabel(isa_name(k.id));
}

void bm_fwht(benchmark::State& state) {
    const std::size_t n = 4096;
    const kernel_table& k = set_isa(state, int(state.range(1)));
    std::vector<float> x = tools::gaussian_vector(2, n), signs = hadamard_signs(1, n);
    for (auto _ : state) k.fwht_forward(x.data(), signs.data(), n, std::size_t(state.range(0)), 0.0625f);
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(state.iterations() * n * 4);
}

void isa_args(benchmark::internal::Benchmark* b, std::vector<std::int64_t> first) {
    for (auto a : first)
        for (isa id : available_isas()) b->Args({a, static_cast<std::int64_t>(id)});
}

BENCHMARK(bm_encode)->Apply([](auto* b) { isa_args(b, {7, 8, 11}); })->Unit(benchmark::kMillisecond);
BENCHMARK(bm_codebook)->DenseRange(4, 12)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_decode)->Apply([](auto* b) { isa_args(b, {7, 8, 11}); })->Unit(benchmark::kMillisecond);
BENCHMARK(bm_decode_calls)->Arg(1)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_fwht)->Apply([](auto* b) { isa_args(b, {32, 256, 4096}); });

}  // namespace
