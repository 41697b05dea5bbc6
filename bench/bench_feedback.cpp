// Error-feedback quantization (tools/common/feedback.hpp) of one synthetic layer: the cost the issue asks for
// (a 4096 × 11008 layer), beside plain qamw::encode of the same weights. M = FᵀF/64 + diag(0.1 … 1.1) with F a
// 64 × cols Gaussian (correlated, full rank), weights N(0, 0.02²), k = 8, no column scales; the default options
// (act-order, 2 refine sweeps) beside the plain feedback pass. One iteration each (the feedback run takes seconds);
// threads = all cores. Counters: rows·cols weights per second, the proxy losses.
// Run: build/bench/qamw_bench --benchmark_filter=feedback
#include "common/feedback.hpp"
#include "common/random.hpp"

#include <qamw/codec.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace {

using namespace qamw;

struct synthetic_layer {
    std::int64_t rows, cols;
    std::vector<float> w, M;
    synthetic_layer(std::int64_t r, std::int64_t c) : rows(r), cols(c) {
        w = tools::gaussian_vector(1, std::size_t(r * c), 0.02);
        const std::vector<float> f = tools::gaussian_vector(2, std::size_t(64 * c), 1.0);
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> F(f.data(), 64, c);
        Eigen::MatrixXf m = F.transpose() * F / 64.0f;
        for (std::int64_t j = 0; j < c; ++j) m(j, j) += 0.1f + float(j % 11) / 10.0f;
        M.assign(m.data(), m.data() + m.size());  // symmetric: column-major = row-major
    }
};

/// range(2) = 1: the defaults (act-order, 2 refine sweeps); 0: the plain feedback pass in the codec's pair order.
void bm_feedback(benchmark::State& state) {
    synthetic_layer l(state.range(0), state.range(1));
    params p;
    p.bits = 8;
    tools::feedback_options o;
    if (state.range(2) == 0) o.act_order = false, o.refine_sweeps = 0;
    tools::feedback_report rep;
    for (auto _ : state) {
        quantized_tensor q = tools::encode_feedback(l.w.data(), l.rows, l.cols, p, nullptr, l.M.data(), o, &rep);
        benchmark::DoNotOptimize(q.codes.data());
    }
    state.counters["weights/s"] = benchmark::Counter(double(l.rows * l.cols), benchmark::Counter::kIsRate);
    state.counters["proxy_nearest"] = rep.loss_nearest / rep.signal;
    state.counters["proxy_feedback"] = rep.loss_feedback / rep.signal;
}

void bm_feedback_plain_encode(benchmark::State& state) {
    synthetic_layer l(state.range(0), state.range(1));
    params p;
    p.bits = 8;
    for (auto _ : state) {
        quantized_tensor q = encode(l.w.data(), l.rows, l.cols, p, nullptr, on_threads{0});
        benchmark::DoNotOptimize(q.codes.data());
    }
    state.counters["weights/s"] = benchmark::Counter(double(l.rows * l.cols), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(bm_feedback)
    ->Args({4096, 11008, 1})
    ->Args({4096, 11008, 0})
    ->Args({1536, 512, 1})
    ->Args({1536, 512, 0})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK(bm_feedback_plain_encode)->Args({4096, 11008})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
