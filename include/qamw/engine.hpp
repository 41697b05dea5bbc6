// qamw/engine.hpp — what an inference engine runs every token: products and decodes straight from the packed codes,
// on row ranges, on the engine's own threads, into the engine's own memory.
//
// Math. Decoding gives ŵ_ij = r̂_i / √(n_pad·B) · (D H ĉ_i)_j / s_j, so for an activation x
//     y_i = Σ_j ŵ_ij x_j = r̂_i · ⟨ĉ_i, x̃⟩,   x̃ = H D (x ⊘ s) / √(n_pad·B)   (zero-padded to n_pad, H symmetric)
// x̃ is computed once per product (rotate, O(n log B)); every row is then one pass over its codes: a table lookup per
// pair and a dot product with x̃ (dot_rows), with no inverse transform and no dequantized copy of the matrix. The
// batched product (gemm_rows, m activation rows) decodes a tile of rows into codeword coordinates once and reuses it
// for all m rows. decode_rows runs the inverse stages: lookup, inverse FWHT with gain r̂_i/√(n_pad·B), ⊘ s.
//
// Cost per weight: dot_rows reads k/8 bytes of codes (its bandwidth bound) and does ½ table lookup + 1 multiply-add;
// gemm_rows decodes each weight once per call and does m multiply-adds with it.
//
// Contract. A prepared_tensor is built once per tensor (it validates the view, then holds the sign vector, the f32
// norms and scales, and a padded copy of the last rows' codes); it borrows the view's memory, which must outlive it.
// The row-range functions are const on it, allocate nothing, start no threads, touch no global state and may be
// called concurrently from any threads for any row ranges; they take the kernel set as an argument (K:
// simd_kernels<Arch> to inline, a kernel_table from qamw/dispatch.hpp to dispatch, ref_kernels for the references).
// Overread: the lookup kernels read up to kernels::overread bytes past a row's codes; prepared_tensor::row_codes()
// makes that safe for every row (the rows whose codes end within overread bytes of the payload's end are served from
// its padded copy), so the payload itself needs no padding.
#pragma once

#include <qamw/codebooks/lm2d.hpp>
#include <qamw/error.hpp>
#include <qamw/kernels/lookup.hpp>
#include <qamw/kernels/table.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/scaler.hpp>
#include <qamw/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

/// Rows of a gemm_rows tile: the decoded tile (tile_rows × n_pad floats) is reused across the activation rows.
constexpr std::size_t gemm_tile_rows = 64;

/// Everything the row-range operations need about one tensor, computed once.
class prepared_tensor {
public:
    /// Validates `v` (errc::format naming the field) and precomputes; copies no codes but the last rows' few bytes.
    /// table: the decode table of the pair quantizer that wrote the codes (nullptr: the shipped lm2d table of v.bits);
    /// it must outlive the prepared tensor.
    explicit prepared_tensor(const quantized_view& v, const float* table = nullptr)
        : v_(validated(v)), table_(table ? table : lm2d_table(v.bits)), signs_(hadamard_signs(v.seed, v.layout.padded)),
          unit_(std::sqrt(double(v.layout.padded) * double(v.layout.block))) {
        norms_.resize(static_cast<std::size_t>(v.rows));
        for (std::size_t i = 0; i < norms_.size(); ++i) norms_[i] = v.norm(i);
        if (v.scales) {
            scales_.resize(static_cast<std::size_t>(v.cols()));
            for (std::size_t j = 0; j < scales_.size(); ++j) scales_[j] = detail::f16_to_f32(detail::load_u16(v.scales, j));
        }
        const std::size_t rb = v.row_bytes(), rows = static_cast<std::size_t>(v.rows);
        const std::size_t tail_rows = std::min(rows, (kernels::overread + rb - 1) / std::max<std::size_t>(rb, 1));
        first_tail_ = rows - tail_rows;
        tail_.assign(v.codes ? v.codes + first_tail_ * rb : nullptr, v.codes ? v.codes + rows * rb : nullptr);
        tail_.resize(tail_rows * rb + kernels::overread, 0);
    }

    const quantized_view& view() const { return v_; }
    std::int64_t rows() const { return v_.rows; }
    std::int64_t cols() const { return v_.cols(); }
    std::size_t padded() const { return static_cast<std::size_t>(v_.layout.padded); }
    std::size_t block() const { return static_cast<std::size_t>(v_.layout.block); }
    int bits() const { return v_.bits; }
    std::size_t pairs() const { return v_.pairs(); }
    const float* table() const { return table_; }          ///< the decode table: codeword i = table[2i], table[2i+1]
    const float* signs() const { return signs_.data(); }   ///< D as ±1, padded() of them
    float norm(std::size_t i) const { return norms_[i]; }  ///< r̂_i
    const float* scales() const { return scales_.empty() ? nullptr : scales_.data(); }  ///< s_j, or nullptr
    double unit() const { return unit_; }                  ///< √(n_pad·B)

    /// Row i's codes followed by kernels::overread readable bytes.
    const std::uint8_t* row_codes(std::size_t i) const {
        const std::size_t rb = v_.row_bytes();
        return i < first_tail_ ? v_.codes + i * rb : tail_.data() + (i - first_tail_) * rb;
    }

    /// Scratch floats decode_rows needs; gemm_rows needs gemm_scratch_floats().
    std::size_t decode_scratch_floats() const { return padded(); }
    std::size_t gemm_scratch_floats() const { return gemm_tile_rows * padded(); }

    /// Throws errc::invalid_argument unless 0 ≤ r0 ≤ r1 ≤ rows.
    void check_rows(std::int64_t r0, std::int64_t r1) const {
        if (r0 < 0 || r0 > r1 || r1 > v_.rows)
            throw error(errc::invalid_argument, "row range [" + std::to_string(r0) + ", " + std::to_string(r1) +
                                                    ") is not inside [0, " + std::to_string(v_.rows) + ")");
    }

private:
    static const quantized_view& validated(const quantized_view& v) {
        validate(v);
        return v;
    }

    quantized_view v_;
    const float* table_;
    std::vector<float> signs_, norms_, scales_;
    double unit_;
    std::size_t first_tail_ = 0;
    std::vector<std::uint8_t> tail_;
};

/// xt[0, n_pad) ← x̃ for x[0, cols) (the activation as the products read it).
template <class K = native_kernels>
void rotate(const prepared_tensor& t, const float* x, float* xt, const K& k = {}) {
    const std::size_t n = static_cast<std::size_t>(t.cols()), np = t.padded();
    std::copy(x, x + n, xt);
    std::fill(xt + n, xt + np, 0.0f);
    if (t.scales()) unscale_columns(xt, t.scales(), n);
    k.fwht_forward(xt, t.signs(), np, t.block(), static_cast<float>(1.0 / t.unit()));
}

/// y[i − r0] = (Ŵ x)_i for rows i in [r0, r1), from xt = rotate(x).
template <class K = native_kernels>
void dot_rows(const prepared_tensor& t, const float* xt, std::int64_t r0, std::int64_t r1, float* y, const K& k = {}) {
    t.check_rows(r0, r1);
    for (std::int64_t i = r0; i < r1; ++i) {
        const std::size_t r = static_cast<std::size_t>(i);
        y[i - r0] = t.norm(r) * k.dot_row(t.row_codes(r), t.pairs(), t.bits(), t.table(), xt);
    }
}

/// out[(i − r0)·cols + j] = ŵ_ij for rows i in [r0, r1); scratch: decode_scratch_floats() floats.
template <class K = native_kernels>
void decode_rows(const prepared_tensor& t, std::int64_t r0, std::int64_t r1, float* out, float* scratch,
                 const K& k = {}) {
    t.check_rows(r0, r1);
    const std::size_t n = static_cast<std::size_t>(t.cols()), np = t.padded();
    for (std::int64_t i = r0; i < r1; ++i) {
        float* dst = out + static_cast<std::size_t>(i - r0) * n;
        const float rhat = t.norm(static_cast<std::size_t>(i));
        if (rhat == 0) {
            std::fill(dst, dst + n, 0.0f);
            continue;
        }
        k.lookup_row(t.row_codes(static_cast<std::size_t>(i)), t.pairs(), t.bits(), t.table(), scratch);
        k.fwht_inverse(scratch, t.signs(), np, t.block(), static_cast<float>(double(rhat) / t.unit()));
        std::copy(scratch, scratch + n, dst);
        if (t.scales()) unscale_columns(dst, t.scales(), n);
    }
}

/// y[b·ldy + (i − r0)] = (Ŵ x_b)_i for rows i in [r0, r1) and m activations, xt[b·n_pad, (b + 1)·n_pad) = rotate(x_b);
/// scratch: gemm_scratch_floats() floats.
template <class K = native_kernels>
void gemm_rows(const prepared_tensor& t, const float* xt, std::size_t m, std::int64_t r0, std::int64_t r1, float* y,
               std::size_t ldy, float* scratch, const K& k = {}) {
    t.check_rows(r0, r1);
    constexpr std::size_t batch_chunk = 64;
    const std::size_t np = t.padded();
    for (std::size_t i0 = static_cast<std::size_t>(r0); i0 < static_cast<std::size_t>(r1); i0 += gemm_tile_rows) {
        const std::size_t n_rows = std::min(gemm_tile_rows, static_cast<std::size_t>(r1) - i0);
        float* yt = y + (i0 - static_cast<std::size_t>(r0));
        for (std::size_t r = 0; r < n_rows; ++r)
            k.lookup_row(t.row_codes(i0 + r), t.pairs(), t.bits(), t.table(), scratch + r * np);
        for (std::size_t b = 0; b < m; b += batch_chunk)
            k.dot_tile(scratch, np, n_rows, xt + b * np, np, std::min(batch_chunk, m - b), np, yt + b * ldy, ldy);
        for (std::size_t b = 0; b < m; ++b)
            for (std::size_t r = 0; r < n_rows; ++r) yt[b * ldy + r] *= t.norm(i0 + r);
    }
}

}  // namespace qamw
