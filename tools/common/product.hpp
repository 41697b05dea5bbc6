// tools/common/product.hpp — whole-matrix products for the tools (evaluator, benchmarks, demo), built the way an
// engine builds them: a prepared tensor, a kernel set chosen once, and the engine's row-range functions
// (qamw/engine.hpp) run on the tools' thread pool with per-chunk scratch. With `integer`, gemv and gemm run on the
// integer-domain kernels instead (kernels/int_gemv.hpp: the activation quantized once per product, int8 on the q8
// path for k ≤ 8 where the kernel set has it, else int16), so the evaluator can measure what they cost in KL divergence.
#pragma once

#include "common/parallel.hpp"

#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>
#include <qamw/kernels/int_gemv.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace qamw::tools {

/// Products with one quantized matrix; borrows the view's memory (it must outlive this object).
class matmul {
public:
    matmul(const quantized_view& v, const kernel_table& k, bool integer = false) : t_(v), k_(&k) {
        if (!integer) return;
        icb_ = std::make_unique<int_codebook>();
        make_int_codebook(t_.table(), t_.bits(), *icb_);
    }

    std::int64_t rows() const { return t_.rows(); }
    std::int64_t cols() const { return t_.cols(); }
    const prepared_tensor& prepared() const { return t_; }

    /// y[0, rows) = Ŵ x for x[0, cols).
    void gemv(const float* x, float* y, int threads) const {
        std::vector<float> xt(t_.padded());
        rotate(t_, x, xt.data(), *k_);
        if (icb_) return int_rows(xt.data(), 1, y, threads);
        parallel_for(static_cast<std::size_t>(rows()), threads, [&](std::size_t r0, std::size_t r1) {
            dot_rows(t_, xt.data(), std::int64_t(r0), std::int64_t(r1), y + r0, *k_);
        }, 64);
    }

    /// y[b·rows + i] = (Ŵ x_b)_i for m activation rows x[b·cols + j] (row-major m × cols in, m × rows out).
    void gemm(const float* x, std::size_t m, float* y, int threads) const {
        const std::size_t np = t_.padded(), nr = static_cast<std::size_t>(rows());
        std::vector<float> xt(m * np);
        parallel_for(m, threads, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t b = b0; b < b1; ++b) rotate(t_, x + b * static_cast<std::size_t>(cols()), xt.data() + b * np, *k_);
        });
        if (icb_) return int_rows(xt.data(), m, y, threads);
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
    /// y[b·rows + i] for m rotated activations through the integer kernels, one row at a time (row_codes() keeps the
    /// kernels' overread inside a padded copy for the last rows).
    void int_rows(const float* xt, std::size_t m, float* y, int threads) const {
        const std::size_t np = t_.padded(), pairs = t_.pairs(), ab = int_activation_bytes(pairs);
        const std::size_t nr = static_cast<std::size_t>(rows());
        std::vector<std::uint8_t> act(m * ab);
        std::vector<int_activation> acts(m);
        for (std::size_t b = 0; b < m; ++b) acts[b] = quantize_activation(*k_, t_.bits(), xt + b * np, pairs, act.data() + b * ab);
        parallel_for(nr, threads, [&](std::size_t r0, std::size_t r1) {
            for (std::size_t i = r0; i < r1; ++i) {
                const float norm = t_.norm(i);
                for (std::size_t b = 0; b < m; ++b)
                    int_gemv_rows(*k_, t_.row_codes(i), t_.view().row_bytes(), 1, pairs, t_.bits(), *icb_, acts[b], &norm,
                                  y + b * nr + i, kernels::overread, nullptr);
            }
        }, 16);
    }

    prepared_tensor t_;
    const kernel_table* k_;
    std::unique_ptr<int_codebook> icb_;  ///< set on the integer path
};

}  // namespace qamw::tools
