// qamw/codec.hpp — the QAM-W weight codec: one include for encode / decode of a weight matrix.
//
// Pipeline of stages (each in include/qamw/stages/, with its math, forward, inverse and scalar reference):
//   scaler      w'_ij = w_ij · s_j                        (optional activation-aware column scales, stored as f16)
//   normalizer  r̂_i = ‖w'_i‖ (stored as f16 · 2^e), u_i = w'_i / r̂_i
//   fwht        t_i = √(n_pad/B) · H D u_i                (randomized block Hadamard; coordinates ~ N(0, 1))
//   pairer      points (t[2j], t[2j+1])
//   codebook    idx = nearest codeword of the 2^k-point Lloyd-Max codebook for N(0, I₂)
//   packer      k bits per index, little-endian bit order, one byte-aligned run per row
// Decode runs the inverses: ŵ_ij = r̂_i / √(n_pad·B) · (D H ĉ_i)_j / s_j, where ĉ_i are the decoded codeword coordinates.
// Encoding is deterministic: the same input and params give the same bytes on every run, thread count and machine.
// docs/FORMAT.md specifies every number; docs/CODEBOOKS.md the codebooks.
#pragma once

#include <qamw/codebooks/lm2d.hpp>
#include <qamw/detail/half.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/error.hpp>
#include <qamw/parallel.hpp>
#include <qamw/stages/codebook.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/normalizer.hpp>
#include <qamw/stages/packer.hpp>
#include <qamw/stages/pairer.hpp>
#include <qamw/stages/scaler.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

/// Codec parameters.
struct params {
    int bits = 11;                               ///< k: bits per pair (4…12); k/2 bits per weight for the codes
    int block = 256;                             ///< B: Hadamard block (power of two, 32…4096), see stages/fwht.hpp
    std::uint64_t seed = 0x51a3c0de5eed0001ull;  ///< seed of the random signs D
    int threads = 1;                             ///< worker threads over rows (0 = all cores); output is identical
};

/// Element type of the input weights.
enum class dtype { f32, f16, bf16 };

/// A quantized matrix: what a container stores for one weight tensor.
struct quantized_tensor {
    std::int64_t rows = 0;
    int bits = 0;                             ///< k
    block_layout layout;                      ///< cols, padded cols, effective block
    std::uint64_t seed = 0;                   ///< sign seed
    std::vector<std::uint8_t> codes;          ///< rows × row_bytes(): packed indices, row after row
    stored_norms norms;                       ///< one per row
    std::vector<std::uint16_t> col_scales;    ///< f16 scales s_j (cols of them), or empty when none were applied

    std::int64_t cols() const { return layout.cols; }
    std::size_t pairs() const { return static_cast<std::size_t>(layout.padded / 2); }
    std::size_t row_bytes() const { return packed_bytes(pairs(), bits); }
    /// Bytes of codes and side information (norms, exponent, scales); the true rate is 8 · stored_bytes / weights.
    std::size_t stored_bytes() const { return codes.size() + 2 * norms.f16.size() + 4 + 2 * col_scales.size(); }
    double bits_per_weight() const { return 8.0 * double(stored_bytes()) / (double(rows) * double(cols())); }
};

namespace detail {

/// A weight matrix holds at most max_elements elements (and so at most that many columns).
inline void check_shape(std::int64_t rows, std::int64_t cols) {
    if (rows < 0 || cols < 1 || cols > max_elements || rows > max_elements / cols)
        throw error(errc::invalid_argument,
                    "shape " + std::to_string(rows) + "x" + std::to_string(cols) + " is not a valid weight matrix");
}

inline float value_at(const void* w, dtype t, std::size_t i) {
    switch (t) {
        case dtype::f32: return static_cast<const float*>(w)[i];
        case dtype::f16: return f16_to_f32(static_cast<const std::uint16_t*>(w)[i]);
        case dtype::bf16: return bf16_to_f32(static_cast<const std::uint16_t*>(w)[i]);
    }
    return 0;
}

/// Throws naming the first column of row `i` (row[0, n)) that is NaN or Inf.
inline void check_finite_row(const float* row, std::size_t n, std::int64_t i) {
    for (std::size_t j = 0; j < n; ++j)
        if (!std::isfinite(row[j]))
            throw error(errc::non_finite, "weight at row " + std::to_string(i) + ", column " + std::to_string(j) + " is " +
                                              (std::isnan(row[j]) ? "NaN" : "Inf"));
}

/// Throws naming the first (row, column) of a row-major f32 matrix that is NaN or Inf.
inline void check_finite(const float* w, std::int64_t rows, std::int64_t cols) {
    for (std::int64_t i = 0; i < rows; ++i)
        check_finite_row(w + static_cast<std::size_t>(i) * static_cast<std::size_t>(cols), static_cast<std::size_t>(cols), i);
}

}  // namespace detail

/// Checks that a quantized tensor is self-consistent (sizes, k, block); throws errc::format naming the field.
inline void validate(const quantized_tensor& q) {
    auto fail = [](const std::string& m) { throw error(errc::format, "quantized tensor: " + m); };
    if (q.bits < min_bits || q.bits > max_bits) fail("bits per pair " + std::to_string(q.bits) + " outside [4, 12]");
    detail::check_shape(q.rows, q.cols());
    block_layout expect = make_block_layout(q.cols(), q.layout.block);
    if (expect.padded != q.layout.padded || expect.block != q.layout.block)
        fail("block layout does not follow the padding rule for " + std::to_string(q.cols()) + " columns");
    if (q.codes.size() != static_cast<std::size_t>(q.rows) * q.row_bytes())
        fail("codes hold " + std::to_string(q.codes.size()) + " bytes, expected rows x row_bytes = " +
             std::to_string(static_cast<std::size_t>(q.rows) * q.row_bytes()));
    if (q.norms.f16.size() != static_cast<std::size_t>(q.rows)) fail("row norm count differs from rows");
    if (q.norms.exp2 < -200 || q.norms.exp2 > 200) fail("row norm exponent out of range");
    for (std::uint16_t h : q.norms.f16)
        if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u)) fail("a row norm is negative, NaN or Inf");
    if (!q.col_scales.empty()) {
        if (q.col_scales.size() != static_cast<std::size_t>(q.cols())) fail("column scale count differs from cols");
        for (std::uint16_t h : q.col_scales)
            if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u) || (h & 0x7c00u) == 0)
                fail("a column scale is not a positive normal binary16 value");
    }
}

/// Encodes a rows × cols row-major matrix of `type` elements. col_scales (cols floats, > 0) are the optional
/// activation-aware scales. Throws qamw::error for NaN/Inf weights (naming row and column), a bad shape, k or B.
inline quantized_tensor encode(const void* w, dtype type, std::int64_t rows, std::int64_t cols, const params& p,
                               const float* col_scales = nullptr) {
    detail::check_shape(rows, cols);
    const codebook& cb = lm2d(p.bits);
    quantized_tensor q;
    q.rows = rows;
    q.bits = p.bits;
    q.layout = make_block_layout(cols, p.block);
    q.seed = p.seed;
    if (col_scales) q.col_scales = store_col_scales(col_scales, static_cast<std::size_t>(cols));
    const std::vector<float> s = col_scale_values(q.col_scales);
    const std::size_t n = static_cast<std::size_t>(cols), np = static_cast<std::size_t>(q.layout.padded);
    const std::size_t m = np / 2, rb = q.row_bytes();

    // Pass 1: norms of the scaled rows (stored with one shared exponent, so all of them are needed first). Non-finite
    // weights are rejected here (check), in parallel; chunks rethrow in order, so the error names the first one in row
    // order. Pass 2 reloads rows pass 1 has checked.
    auto load_row = [&](std::int64_t i, float* row, bool check) {
        for (std::size_t j = 0; j < n; ++j) row[j] = detail::value_at(w, type, static_cast<std::size_t>(i) * n + j);
        if (check) detail::check_finite_row(row, n, i);
        if (!s.empty()) scale_columns(row, s.data(), n);
        for (std::size_t j = n; j < np; ++j) row[j] = 0;
    };
    std::vector<double> norms(static_cast<std::size_t>(rows));
    parallel_for(static_cast<std::size_t>(rows), p.threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(np);
        for (std::size_t i = r0; i < r1; ++i) {
            load_row(static_cast<std::int64_t>(i), row.data(), true);
            norms[i] = row_norm(row.data(), n);
        }
    });
    q.norms = store_norms(norms);

    // Pass 2: rotate, pair, search, pack.
    q.codes.assign(static_cast<std::size_t>(rows) * rb, 0);
    const std::vector<float> signs = hadamard_signs(p.seed, q.layout.padded);
    const kernel_table& k = active_kernels();
    const double unit = std::sqrt(double(np) / double(q.layout.block));
    parallel_for(static_cast<std::size_t>(rows), p.threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(np), xs(m), ys(m);
        std::vector<std::uint16_t> idx(m);
        for (std::size_t i = r0; i < r1; ++i) {
            float rhat = q.norms.value(i);
            load_row(static_cast<std::int64_t>(i), row.data(), false);
            if (rhat > 0) {
                k.fwht_forward(row.data(), signs.data(), np, static_cast<std::size_t>(q.layout.block),
                               static_cast<float>(unit / double(rhat)));
            } else {
                std::fill(row.begin(), row.end(), 0.0f);
            }
            pair_split(row.data(), m, xs.data(), ys.data());
            for (std::size_t j = 0; j < m; ++j) idx[j] = static_cast<std::uint16_t>(cb.nearest(xs[j], ys[j]));
            ref::pack(idx.data(), m, p.bits, q.codes.data() + i * rb);
        }
    });
    return q;
}

/// Typed convenience overload for float input.
inline quantized_tensor encode(const float* w, std::int64_t rows, std::int64_t cols, const params& p,
                               const float* col_scales = nullptr) {
    return encode(static_cast<const void*>(w), dtype::f32, rows, cols, p, col_scales);
}

namespace detail {
/// Codes of row i followed by kernels::overread readable bytes (the contract of the lookup kernels): in place, except
/// for the last rows, which are copied into `scratch`.
inline const std::uint8_t* readable_codes(const quantized_tensor& q, std::size_t i, std::vector<std::uint8_t>& scratch) {
    const std::size_t rb = q.row_bytes();
    const std::uint8_t* p = q.codes.data() + i * rb;
    if ((i + 1) * rb + kernels::overread <= q.codes.size()) return p;
    scratch.assign(p, p + rb);
    scratch.resize(rb + kernels::overread, 0);
    return scratch.data();
}
}  // namespace detail

/// Decodes rows [r0, r1) into out ((r1 − r0) × cols floats, row-major). q must be valid (see validate()).
inline void decode_rows(const quantized_tensor& q, std::int64_t r0, std::int64_t r1, float* out) {
    const codebook& cb = lm2d(q.bits);
    const std::size_t n = static_cast<std::size_t>(q.cols()), np = static_cast<std::size_t>(q.layout.padded);
    const std::vector<float> signs = hadamard_signs(q.seed, q.layout.padded);
    const std::vector<float> s = col_scale_values(q.col_scales);
    const kernel_table& k = active_kernels();
    const double unit = std::sqrt(double(np) * double(q.layout.block));
    std::vector<float> row(np);
    std::vector<std::uint8_t> scratch;
    for (std::int64_t i = r0; i < r1; ++i) {
        float* dst = out + static_cast<std::size_t>(i - r0) * n;
        float rhat = q.norms.value(static_cast<std::size_t>(i));
        if (rhat == 0) {
            std::fill(dst, dst + n, 0.0f);
            continue;
        }
        k.lookup_row(detail::readable_codes(q, static_cast<std::size_t>(i), scratch), q.pairs(), q.bits, cb.xy(),
                     row.data());
        k.fwht_inverse(row.data(), signs.data(), np, static_cast<std::size_t>(q.layout.block),
                       static_cast<float>(double(rhat) / unit));
        std::copy(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(n), dst);
        if (!s.empty()) unscale_columns(dst, s.data(), n);
    }
}

/// Decodes the whole matrix (rows × cols floats, row-major). Validates q first.
inline std::vector<float> decode(const quantized_tensor& q, int threads = 1) {
    validate(q);
    std::vector<float> out(static_cast<std::size_t>(q.rows) * static_cast<std::size_t>(q.cols()));
    parallel_for(static_cast<std::size_t>(q.rows), threads, [&](std::size_t r0, std::size_t r1) {
        decode_rows(q, static_cast<std::int64_t>(r0), static_cast<std::int64_t>(r1),
                    out.data() + r0 * static_cast<std::size_t>(q.cols()));
    });
    return out;
}

}  // namespace qamw
