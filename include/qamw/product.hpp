// qamw/product.hpp — matrix products straight from the packed codes, in the rotated domain.
//
// Math. Decoding gives ŵ_ij = r̂_i / √(n_pad·B) · (D H ĉ_i)_j / s_j, so for an activation x
//     y_i = Σ_j ŵ_ij x_j = r̂_i · ⟨ĉ_i, x̃⟩,   x̃ = H D (x ⊘ s) / √(n_pad·B)   (zero-padded to n_pad, H symmetric)
// x̃ is computed once per product (O(n log B)); every row is then one pass over its codes: a table lookup per pair
// and a dot product with x̃, with no inverse transform and no dequantized copy of the matrix (gemv). The batched
// product (gemm, m activation rows) decodes a tile of rows into codeword coordinates once and reuses it for all m rows.
//
// Cost per weight: gemv reads k/8 bytes of codes (its bandwidth bound) and does ½ table lookup + 1 multiply-add;
// gemm decodes each weight once per call and does m multiply-adds with it.
#pragma once

#include <qamw/codec.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace qamw {

/// Products with one quantized matrix. Precomputes the sign vector, reciprocal scales and norms once; holds a
/// reference to `q`, which must outlive it. Thread-safe for concurrent calls.
class matmul {
public:
    explicit matmul(const quantized_tensor& q)
        : q_(&validated(q)), cb_(&lm2d(q.bits)), signs_(hadamard_signs(q.seed, q.layout.padded)) {
        norms_.resize(static_cast<std::size_t>(q.rows));
        for (std::size_t i = 0; i < norms_.size(); ++i) norms_[i] = q.norms.value(i);
        scales_ = col_scale_values(q.col_scales);
    }

    std::int64_t rows() const { return q_->rows; }
    std::int64_t cols() const { return q_->cols(); }
    std::size_t padded() const { return static_cast<std::size_t>(q_->layout.padded); }

    /// xt[0, n_pad) ← x̃ for x[0, cols).
    void rotate(const float* x, float* xt) const {
        const std::size_t n = static_cast<std::size_t>(cols()), np = padded();
        std::copy(x, x + n, xt);
        std::fill(xt + n, xt + np, 0.0f);
        if (!scales_.empty()) unscale_columns(xt, scales_.data(), n);
        active_kernels().fwht_forward(xt, signs_.data(), np, static_cast<std::size_t>(q_->layout.block),
                                      static_cast<float>(1.0 / std::sqrt(double(np) * q_->layout.block)));
    }

    /// y[0, rows) = Ŵ x for x[0, cols).
    void gemv(const float* x, float* y, int threads = 1) const {
        std::vector<float> xt(padded());
        rotate(x, xt.data());
        gemv_rotated(xt.data(), y, threads);
    }

    /// y = Ŵ x for an already rotated xt (from rotate()).
    void gemv_rotated(const float* xt, float* y, int threads = 1) const {
        const kernel_table& k = active_kernels();
        const std::size_t pairs = q_->pairs();
        parallel_for(static_cast<std::size_t>(rows()), threads, [&](std::size_t r0, std::size_t r1) {
            std::vector<std::uint8_t> last;
            for (std::size_t i = r0; i < r1; ++i)
                y[i] = norms_[i] * k.dot_row(detail::readable_codes(*q_, i, last), pairs, q_->bits, cb_->xy(), xt);
        }, 64);
    }

    /// y[b·rows + i] = (Ŵ x_b)_i for m activation rows x[b·cols + j] (row-major m × cols in, m × rows out).
    void gemm(const float* x, std::size_t m, float* y, int threads = 1) const {
        const std::size_t np = padded(), nr = static_cast<std::size_t>(rows());
        std::vector<float> xt(m * np);
        parallel_for(m, threads, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t b = b0; b < b1; ++b) rotate(x + b * static_cast<std::size_t>(cols()), xt.data() + b * np);
        });
        const kernel_table& k = active_kernels();
        constexpr std::size_t tile = 64, batch_chunk = 64;
        const std::size_t tiles = (nr + tile - 1) / tile;
        parallel_for(tiles, threads, [&](std::size_t t0, std::size_t t1) {
            std::vector<float> qt(tile * np);
            std::vector<std::uint8_t> last;
            for (std::size_t t = t0; t < t1; ++t) {
                const std::size_t i0 = t * tile, n_rows = std::min(tile, nr - i0);
                for (std::size_t r = 0; r < n_rows; ++r)
                    k.lookup_row(detail::readable_codes(*q_, i0 + r, last), q_->pairs(), q_->bits, cb_->xy(), qt.data() + r * np);
                for (std::size_t b = 0; b < m; b += batch_chunk)
                    k.dot_tile(qt.data(), np, n_rows, xt.data() + b * np, np, std::min(batch_chunk, m - b), np,
                               y + b * nr + i0, nr);
                for (std::size_t b = 0; b < m; ++b)
                    for (std::size_t r = 0; r < n_rows; ++r) y[b * nr + i0 + r] *= norms_[i0 + r];
            }
        });
    }

private:
    /// Validates before any member is built from the tensor's fields (the sign vector's length is one of them).
    static const quantized_tensor& validated(const quantized_tensor& q) {
        validate(q);
        return q;
    }

    const quantized_tensor* q_;
    const codebook* cb_;
    std::vector<float> signs_, scales_, norms_;
};

}  // namespace qamw
