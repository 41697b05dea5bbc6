// tools/common/product.hpp — whole-matrix products for the tools (evaluator, benchmarks, demo), built the way an
// engine builds them: a prepared tensor, a kernel set chosen once, and the engine's row-range functions
// (qamw/engine.hpp) run on the tools' thread pool with per-chunk scratch. With `integer`, gemv and gemm run on the
// engine's integer path instead (quantize_activation once per activation row, then int_dot_rows / the batched
// int_gemm_rows: int8 on the q8 path for k ≤ 8 where the kernel set has it, the split q16 path for d8 codebooks where
// the set has its kernel, else int16), so the evaluator can measure what it costs in KL divergence and the benchmarks
// its speed.
#pragma once

#include "common/parallel.hpp"

#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace qamw::tools {

/// A GEMV's rows go to the threads in chunks of at least gemv_grain_rows rows, up to gemv_chunks_per_thread chunks
/// per thread: a thread that finishes its own early takes others' (parallel_for). On the 16-core Xeon (4096×14336,
/// 16 threads) 16 × 16 ran the integer GEMVs 1.03–1.11× as fast as 4 chunks of ≥ 64 rows (docs/PERFORMANCE.md,
/// "No lock on a run's path").
constexpr std::size_t gemv_grain_rows = 16, gemv_chunks_per_thread = 16;

/// Products with one quantized matrix; borrows the view's memory (it must outlive this object).
class matmul {
public:
    /// With `integer`, a d8 tensor that k can run on the split q16 kernel gets its codes in the split layout (a copy,
    /// owned here; made on all hardware threads).
    matmul(const quantized_view& v, const kernel_table& k, bool integer = false) : t_(v, nullptr, integer), k_(&k) {
        if (!integer || !int_uses_q16s(k, t_.int_table())) return;
        split_.resize(t_.split_codes_bytes());
        t_.use_split_codes(split_.data(), [](std::size_t n, auto&& f) { parallel_for(n, 0, f); });
    }
    matmul(const matmul&) = delete;  // the prepared tensor points into split_
    matmul& operator=(const matmul&) = delete;

    std::int64_t rows() const { return t_.rows(); }
    std::int64_t cols() const { return t_.cols(); }
    const prepared_tensor& prepared() const { return t_; }

    /// y[0, rows) = Ŵ x for x[0, cols).
    void gemv(const float* x, float* y, int threads) const {
        std::vector<float> xt(t_.padded());
        rotate(t_, x, xt.data(), *k_);
        if (t_.has_integer()) {
            std::vector<std::uint8_t> act(t_.int_activation_bytes());
            quantize_activation(t_, xt.data(), act.data(), *k_);
            return parallel_for(static_cast<std::size_t>(rows()), threads, [&](std::size_t r0, std::size_t r1) {
                int_dot_rows(t_, act.data(), std::int64_t(r0), std::int64_t(r1), y + r0, *k_);
            }, gemv_grain_rows, gemv_chunks_per_thread);
        }
        parallel_for(static_cast<std::size_t>(rows()), threads, [&](std::size_t r0, std::size_t r1) {
            dot_rows(t_, xt.data(), std::int64_t(r0), std::int64_t(r1), y + r0, *k_);
        }, gemv_grain_rows, gemv_chunks_per_thread);
    }

    /// y[b·rows + i] = (Ŵ x_b)_i for m activation rows x[b·cols + j] (row-major m × cols in, m × rows out).
    void gemm(const float* x, std::size_t m, float* y, int threads) const {
        const std::size_t np = t_.padded(), nr = static_cast<std::size_t>(rows());
        std::vector<float> xt(m * np);
        parallel_for(m, threads, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t b = b0; b < b1; ++b) rotate(t_, x + b * static_cast<std::size_t>(cols()), xt.data() + b * np, *k_);
        });
        if (t_.has_integer()) return int_gemm(xt.data(), m, y, threads);
        const std::size_t tiles = (nr + gemm_tile_rows - 1) / gemm_tile_rows;
        parallel_for(tiles, threads, [&](std::size_t t0, std::size_t t1) {
            std::vector<float> scratch(t_.gemm_scratch_floats());
            const std::size_t r0 = t0 * gemm_tile_rows, r1 = std::min(nr, t1 * gemm_tile_rows);
            gemm_rows(t_, xt.data(), m, std::int64_t(r0), std::int64_t(r1), y + r0, nr, scratch.data(), *k_);
        });
    }

    /// out[0, cols) = row i of Ŵ.
    void decode_row(std::int64_t i, float* out) const {
        std::vector<float> scratch(t_.decode_scratch_floats());
        decode_rows(t_, i, i + 1, out, scratch.data(), *k_);
    }

private:
    /// y[b·rows + i] for m rotated activations on the integer path: each quantized once, then tiles of rows
    /// (int_gemm_rows) split over threads.
    void int_gemm(const float* xt, std::size_t m, float* y, int threads) const {
        const std::size_t np = t_.padded(), ab = t_.int_activation_bytes(), nr = static_cast<std::size_t>(rows());
        // 64-byte aligned (engine.hpp's recommendation; ab is a multiple of 64, so every activation is)
        struct alignas(64) line { std::uint8_t b[64]; };
        std::vector<line> lines(m * ab / 64);
        auto* act = reinterpret_cast<std::uint8_t*>(lines.data());
        parallel_for(m, threads, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t b = b0; b < b1; ++b) quantize_activation(t_, xt + b * np, act + b * ab, *k_);
        });
        const std::size_t tiles = (nr + int_gemm_tile_rows - 1) / int_gemm_tile_rows;
        parallel_for(tiles, threads, [&](std::size_t t0, std::size_t t1) {
            std::vector<std::int32_t> scratch(t_.int_gemm_scratch_words());
            const std::size_t r0 = t0 * int_gemm_tile_rows, r1 = std::min(nr, t1 * int_gemm_tile_rows);
            int_gemm_rows(t_, act, m, std::int64_t(r0), std::int64_t(r1), y + r0, nr, scratch.data(), *k_);
        });
    }

    prepared_tensor t_;
    const kernel_table* k_;
    std::vector<std::uint8_t> split_;  ///< the codes in the split layout, or empty
};

}  // namespace qamw::tools
