// bench/bench_int_kernels.cpp — the integer row kernels of the selected kernel set (QAMW_ISA picks it) side by side:
// dot_rows_q8 and dot_rows_q16 on the same 11008 × 4096 matrix of random k-bit codes, k = 4…8 (and q16 at 9, 11), one
// thread, so the choice between the two paths rests on one run (docs/PERFORMANCE.md "Integer kernels"); the d8
// codebooks at k = 9, 10, 11 on q16 (table loads) and on the split q16 kernels (dot_rows_q16s, where the set has
// them) on the same codes; and the q16
// GEMM micro-kernel (dot_words_q16 on a 16-row tile of looked-up words against m activations) beside the row kernel on
// the same rows.
// The activation quantizers (quantize_q8a / quantize_q16a / quantize_q16s: the serial step before every integer GEMV) of each kernel
// set this CPU runs, the scalar reference included, side by side at 4096 and 14336 columns.
// Timed in CPU time (one thread): on a shared machine the wall clock also counts the time other processes hold the core.
// Items: weights (int_rows), multiply-adds (int_gemm_words), activation elements (int_quantize).
// Run: QAMW_ISA=avx2 build/bench/qamw_bench --benchmark_filter=int_ --benchmark_repetitions=7
//   --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include "common/random.hpp"

#include <qamw/codebooks/codebook.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/stages/packer.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace {

using namespace qamw;

constexpr std::size_t rows = 11008, pairs = 2048;  // 11008 × 4096 weights

struct int_case {
    std::vector<std::uint8_t> codes;  ///< rows · packed_bytes(pairs, k) + kernels::overread random bytes
    std::vector<std::uint8_t> split;  ///< d8: the codes in the split layout (split_codes), rows of split_row_bytes
    std::unique_ptr<int_codebook> cb = std::make_unique<int_codebook>();
    std::vector<block_q8a> a8 = std::vector<block_q8a>(q8a_blocks(pairs));
    std::vector<block_q16a> a16 = std::vector<block_q16a>(q16a_blocks(pairs));
    std::vector<block_q16s> a16s = std::vector<block_q16s>(q16a_blocks(pairs));
    float bias = 0;
    int_case(int k, codebook_family f) {
        tools::rng r{static_cast<std::uint64_t>(k)};
        codes.resize(rows * packed_bytes(pairs, k) + kernels::overread);
        for (auto& c : codes) c = static_cast<std::uint8_t>(r.next());
        make_int_codebook(codebook_table(f, k), k, *cb, f == codebook_family::d8 ? d8_grid(k) : 0.0f);
        const std::vector<float> xt = tools::gaussian_vector(std::uint64_t(k) + 100, 2 * pairs);
        bias = quantize_q8a(xt.data(), pairs, a8.data());
        quantize_q16a(xt.data(), pairs, a16.data());
        quantize_q16s(xt.data(), pairs, a16s.data());
        if (f != codebook_family::d8) return;
        split.resize(rows * split_row_bytes(pairs, k));
        for (std::size_t r = 0; r < rows; ++r)
            split_codes(codes.data() + r * packed_bytes(pairs, k), pairs, k, split.data() + r * split_row_bytes(pairs, k));
    }
};

const int_case& case_for(int k, codebook_family f = codebook_family::lm2d) {
    static std::map<std::pair<int, codebook_family>, std::unique_ptr<int_case>> cache;
    auto& c = cache[{k, f}];
    if (!c) c = std::make_unique<int_case>(k, f);
    return *c;
}

// Args: k, path (8: dot_rows_q8, 16: dot_rows_q16, 17: dot_rows_q16s), codebook (0: lm2d, 1: d8)
void int_rows(benchmark::State& s) {
    const int k = int(s.range(0)), path = int(s.range(1));
    const codebook_family f = s.range(2) ? codebook_family::d8 : codebook_family::lm2d;
    const kernel_table& t = select_kernels();
    s.SetLabel(std::string(isa_name(t.id)) + " k=" + std::to_string(k) + " " + family_name(f) + " " +
               (path == 17 ? "split q16" : "q" + std::to_string(path)));
    if (path == 8 && !int_uses_q8(t, k)) {
        s.SkipWithError("this kernel set runs this k on q16 (kernels/int_product.hpp: q8_max_bits)");
        return;
    }
    const int_case& c = case_for(k, f);
    if (path == 17 && !int_uses_q16s(t, *c.cb)) {
        s.SkipWithError("this kernel set has no split q16 kernel (kernels/int_product.hpp: has_q16s)");
        return;
    }
    const std::size_t rb = packed_bytes(pairs, k);
    std::vector<float> y(rows);
    for (auto _ : s) {
        if (path == 8) t.dot_rows_q8(c.codes.data(), rb, rows, pairs, k, *c.cb, c.a8.data(), c.bias, y.data());
        else if (path == 17) t.dot_rows_q16s(c.split.data(), split_row_bytes(pairs, k), rows, pairs, k, *c.cb, c.a16s.data(), y.data());
        else t.dot_rows_q16(c.codes.data(), rb, rows, pairs, k, *c.cb, c.a16.data(), y.data());
        benchmark::DoNotOptimize(y.data());
    }
    s.SetItemsProcessed(std::int64_t(s.iterations()) * std::int64_t(rows * 2 * pairs));
    s.SetBytesProcessed(std::int64_t(s.iterations()) * std::int64_t(rows * rb));
}

void int_rows_args(benchmark::internal::Benchmark* b) {
    for (int k = 4; k <= 8; ++k)
        for (int path : {8, 16}) b->Args({k, path, 0});
    for (int k : {9, 11}) b->Args({k, 16, 0});  // the k that run q16 everywhere
    for (int k : {9, 10, 11})
        for (int path : {16, 17}) b->Args({k, path, 1});  // d8: table loads against the base in registers
}

BENCHMARK(int_rows)->Apply(int_rows_args)->Unit(benchmark::kMillisecond);

// Args: m (activations; 1: the row kernel dot_rows_q16 on the codes, else dot_words_q16 on the looked-up words), k.
// A tile of 16 rows (engine.hpp int_gemm_tile_rows), 2048 pairs; the activations int_activation_bytes apart.
void int_gemm_words(benchmark::State& s) {
    const std::size_t m = std::size_t(s.range(0)), tile = 16;
    const int k = int(s.range(1));
    const kernel_table& t = select_kernels();
    s.SetLabel(std::string(isa_name(t.id)) + " k=" + std::to_string(k) + (m == 1 ? " row kernel" : " micro-kernel"));
    const int_case& c = case_for(k);
    const std::size_t rb = packed_bytes(pairs, k), ab = q16a_blocks(pairs) * sizeof(block_q16a) + 64;
    // words and activations 64-byte aligned, as int_gemm_rows and the tools' GEMM hold them
    struct alignas(64) line { std::uint8_t b[64]; };
    std::vector<line> word_lines(tile * pairs * 4 / 64), act_lines(m * ab / 64);
    auto* words = reinterpret_cast<std::int32_t*>(word_lines.data());
    auto* acts = reinterpret_cast<std::uint8_t*>(act_lines.data());
    for (std::size_t r = 0; r < tile; ++r) t.lookup_q16(c.codes.data() + r * rb, pairs, k, *c.cb, words + r * pairs);
    for (std::size_t j = 0; j < m; ++j) std::memcpy(acts + j * ab, c.a16.data(), c.a16.size() * sizeof(block_q16a));
    const auto* a = reinterpret_cast<const block_q16a*>(acts);
    std::vector<float> y(m * tile);
    for (auto _ : s) {
        if (m == 1) t.dot_rows_q16(c.codes.data(), rb, tile, pairs, k, *c.cb, a, y.data());
        else t.dot_words_q16(words, pairs, tile, pairs, *c.cb, a, ab, m, y.data(), tile);
        benchmark::DoNotOptimize(y.data());
    }
    s.SetItemsProcessed(std::int64_t(s.iterations()) * std::int64_t(m * tile * 2 * pairs));
}

// Args: columns (2·pairs), path (8: quantize_q8a, 16: quantize_q16a, 17: quantize_q16s), kernel set (qamw::isa as an
// int).
void int_quantize(benchmark::State& s) {
    const std::size_t cols = std::size_t(s.range(0)), np = cols / 2;
    const int path = int(s.range(1));
    const kernel_table* t = kernels_for(static_cast<isa>(s.range(2)));
    s.SetLabel(std::string(isa_name(static_cast<isa>(s.range(2)))) + (path == 17 ? " split q16 " : " q" + std::to_string(path) + " ") +
               std::to_string(cols) + " columns");
    const std::vector<float> xt = tools::gaussian_vector(7, cols);
    std::vector<block_q8a> a8(q8a_blocks(np));
    std::vector<block_q16a> a16(q16a_blocks(np));
    std::vector<block_q16s> a16s(q16a_blocks(np));
    for (auto _ : s) {
        if (path == 8) benchmark::DoNotOptimize(t->quantize_q8a(xt.data(), np, a8.data()));
        else if (path == 17) t->quantize_q16s(xt.data(), np, a16s.data(), a16.data());  // both, as the engine does
        else t->quantize_q16a(xt.data(), np, a16.data());
        benchmark::ClobberMemory();
    }
    s.SetItemsProcessed(std::int64_t(s.iterations()) * std::int64_t(cols));
}

void int_quantize_args(benchmark::internal::Benchmark* b) {
    for (int cols : {4096, 14336})
        for (int path : {8, 16, 17})
            for (isa id : available_isas())
                if (path != 17 || kernels_for(id)->quantize_q16s) b->Args({cols, path, int(id)});  // split: where it runs
}

BENCHMARK(int_quantize)->Apply(int_quantize_args)->Unit(benchmark::kMicrosecond);

BENCHMARK(int_gemm_words)->Args({1, 11})->Args({512, 9})->Args({512, 11})->Unit(benchmark::kMillisecond);

}  // namespace
