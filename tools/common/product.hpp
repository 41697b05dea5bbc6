// tools/common/product.hpp — whole-matrix products for the tools (evaluator, benchmarks, demo), built the way an
// engine builds them: a prepared tensor, a kernel set chosen once, and the engine's row-range functions
// (qamw/engine.hpp) run on the tools' thread pool with per-chunk scratch.
#pragma once

#include "common/parallel.hpp"

#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>

#include <algorithm>
#include <vector>

namespace qamw::tools {

/// Products with one quantized matrix; borrows the view's memory (it must outlive this object).
class matmul {
public:
    matmul(const quantized_view& v, const kernel_table& k) : t_(v), k_(&k) {}

    std::int64_t rows() const { return t_.rows(); }
    std::int64_t cols() const { return t_.cols(); }
    const prepared_tensor& prepared() const { return t_; }

    /// y[0, rows) = Ŵ x for x[0, cols).
    void gemv(const float* x, float* y, int threads) const {
        std::vector<float> xt(t_.padded());
        rotate(t_, x, xt.data(), *k_);
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
    prepared_tensor t_;
    const kernel_table* k_;
};

}  // namespace qamw::tools
