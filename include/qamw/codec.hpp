// qamw/codec.hpp — the QAM-W weight codec: encode / decode of a whole weight matrix, written once against the stages.
//
// Pipeline of stages (each in include/qamw/stages/, with its math, forward, inverse and scalar reference):
//   scaler      w'_ij = w_ij · s_j                        (optional activation-aware column scales, stored as f16)
//   normalizer  r̂_i = ‖w'_i‖ (stored as f16 · 2^e), u_i = w'_i / r̂_i
//   fwht        t_i = √(n_pad/B) · H D u_i                (randomized block Hadamard; coordinates ~ N(0, 1))
//   pairer      points (t[2j], t[2j+1])
//   quantizer   idx = the pair quantizer's index of each point: for QAM-W the nearest codeword of the 2^k-point
//               Lloyd-Max codebook for N(0, I₂) (codebooks/lm2d.hpp, the default) or of the D8-symmetric codebook
//               (codebooks/d8.hpp); any type with the same shape plugs in
//   packer      k bits per index, little-endian bit order, one byte-aligned run per row
// Decode runs the inverses (engine.hpp): ŵ_ij = r̂_i / √(n_pad·B) · (D H ĉ_i)_j / s_j, ĉ_i the decoded codewords.
// Encoding is deterministic: the same input and params give the same bytes on every run, executor and machine.
// docs/FORMAT.md specifies every number; docs/CODEBOOKS.md the codebooks.
//
// A pair quantizer Q has
//   int bits() const;                               k, in [4, 12]
//   std::uint32_t encode(float x, float y) const;   the index (< 2^k) of a finite point
//   const float* table() const;                     the decode table: 2^k codewords, interleaved x0 y0 x1 y1 …
// Threads and instruction sets are the caller's: `exec` (executor.hpp) runs the row loops, `k` (kernels/table.hpp)
// is the kernel set; the defaults are the calling thread and the compile-time architecture.
#pragma once

#include <qamw/codebooks/codebook.hpp>
#include <qamw/detail/half.hpp>
#include <qamw/engine.hpp>
#include <qamw/error.hpp>
#include <qamw/executor.hpp>
#include <qamw/kernels/table.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/normalizer.hpp>
#include <qamw/stages/packer.hpp>
#include <qamw/stages/pairer.hpp>
#include <qamw/stages/scaler.hpp>
#include <qamw/tensor.hpp>

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
    codebook_family family = codebook_family::lm2d;  ///< the codebook family (d8: k = 9, 10, 11 only)
};

/// Element type of the input weights.
enum class dtype { f32, f16, bf16 };

namespace detail {

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

/// Encodes a rows × cols row-major matrix of `type` elements with the pair quantizer q (file comment), Hadamard block
/// `block` and sign seed `seed`. col_scales (cols floats, > 0) are the optional activation-aware scales. Throws
/// qamw::error for NaN/Inf weights (naming row and column), a row norm beyond the format's range (stages/normalizer.hpp),
/// a bad shape or B.
template <class Q, class Exec = serial, class K = native_kernels>
quantized_tensor encode_pairs(const Q& q, const void* w, dtype type, std::int64_t rows, std::int64_t cols, int block,
                              std::uint64_t seed, const float* col_scales = nullptr, const Exec& exec = {},
                              const K& k = {}) {
    detail::check_shape(rows, cols);
    quantized_tensor out;
    out.rows = rows;
    out.bits = q.bits();
    out.layout = make_block_layout(cols, block);
    out.seed = seed;
    if (col_scales) out.col_scales = store_col_scales(col_scales, static_cast<std::size_t>(cols));
    const std::vector<float> s = col_scale_values(out.col_scales);
    const std::size_t n = static_cast<std::size_t>(cols), np = static_cast<std::size_t>(out.layout.padded);
    const std::size_t m = np / 2, rb = out.row_bytes();

    // Pass 1: norms of the scaled rows (stored with one shared exponent, so all of them are needed first). Non-finite
    // weights are rejected here (check); the error names the first one in row order when the executor rethrows the
    // first chunk's error. Pass 2 reloads rows pass 1 has checked.
    auto load_row = [&](std::int64_t i, float* row, bool check) {
        for (std::size_t j = 0; j < n; ++j) row[j] = detail::value_at(w, type, static_cast<std::size_t>(i) * n + j);
        if (check) detail::check_finite_row(row, n, i);
        if (!s.empty()) scale_columns(row, s.data(), n);
        for (std::size_t j = n; j < np; ++j) row[j] = 0;
    };
    std::vector<double> norms(static_cast<std::size_t>(rows));
    exec(static_cast<std::size_t>(rows), [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(np);
        for (std::size_t i = r0; i < r1; ++i) {
            load_row(static_cast<std::int64_t>(i), row.data(), true);
            norms[i] = row_norm(row.data(), n);
        }
    });
    for (std::size_t i = 0; i < norms.size(); ++i)
        if (!(norms[i] < std::ldexp(1.0, max_norm_exp2 + 15)))
            throw error(errc::non_finite, "row " + std::to_string(i) + " has norm " + std::to_string(norms[i]) +
                                              " (after column scaling), beyond the format's range 2^" +
                                              std::to_string(max_norm_exp2 + 15) + ": its decode would not be finite");
    out.norms = store_norms(norms);

    // Pass 2: rotate, pair, quantize, pack.
    out.codes.assign(static_cast<std::size_t>(rows) * rb, 0);
    const std::vector<float> signs = hadamard_signs(seed, out.layout.padded);
    const double unit = std::sqrt(double(np) / double(out.layout.block));
    exec(static_cast<std::size_t>(rows), [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(np), xs(m), ys(m);
        std::vector<std::uint16_t> idx(m);
        for (std::size_t i = r0; i < r1; ++i) {
            float rhat = out.norms.value(i);
            load_row(static_cast<std::int64_t>(i), row.data(), false);
            if (rhat > 0) {
                k.fwht_forward(row.data(), signs.data(), np, static_cast<std::size_t>(out.layout.block),
                               static_cast<float>(unit / double(rhat)));
            } else {
                std::fill(row.begin(), row.end(), 0.0f);
            }
            pair_split(row.data(), m, xs.data(), ys.data());
            for (std::size_t j = 0; j < m; ++j) idx[j] = static_cast<std::uint16_t>(q.encode(xs[j], ys[j]));
            ref::pack(idx.data(), m, out.bits, out.codes.data() + i * rb);
        }
    });
    return out;
}

/// QAM-W: encode_pairs with the shipped codebook `cb`, whose bits and family must be p.bits and p.family
/// (errc::invalid_argument). The tensor records the family.
template <class Exec = serial, class K = native_kernels>
quantized_tensor encode(const codebook& cb, const void* w, dtype type, std::int64_t rows, std::int64_t cols,
                        const params& p, const float* col_scales = nullptr, const Exec& exec = {}, const K& k = {}) {
    if (cb.bits() != p.bits || cb.family() != p.family)
        throw error(errc::invalid_argument, "encode: codebook " + cb.id() + " given for " + codebook_id(p.family, p.bits));
    quantized_tensor out = encode_pairs(cb, w, type, rows, cols, p.block, p.seed, col_scales, exec, k);
    out.family = cb.family();
    return out;
}

/// Typed convenience overload for float input.
template <class Exec = serial, class K = native_kernels>
quantized_tensor encode(const codebook& cb, const float* w, std::int64_t rows, std::int64_t cols, const params& p,
                        const float* col_scales = nullptr, const Exec& exec = {}, const K& k = {}) {
    return encode(cb, static_cast<const void*>(w), dtype::f32, rows, cols, p, col_scales, exec, k);
}

/// The same, building the codebook of p.bits and p.family for this call (25 ms at k = 11, codebooks/codebook.hpp). To encode many
/// tensors, build one qamw::codebook per k and use the overloads above.
template <class Exec = serial, class K = native_kernels>
quantized_tensor encode(const void* w, dtype type, std::int64_t rows, std::int64_t cols, const params& p,
                        const float* col_scales = nullptr, const Exec& exec = {}, const K& k = {}) {
    const codebook cb(p.bits, p.family);
    return encode(cb, w, type, rows, cols, p, col_scales, exec, k);
}

/// Typed convenience overload for float input, building the codebook for this call.
template <class Exec = serial, class K = native_kernels>
quantized_tensor encode(const float* w, std::int64_t rows, std::int64_t cols, const params& p,
                        const float* col_scales = nullptr, const Exec& exec = {}, const K& k = {}) {
    return encode(static_cast<const void*>(w), dtype::f32, rows, cols, p, col_scales, exec, k);
}

/// Decodes the whole matrix (rows × cols floats, row-major) through a prepared tensor. table: the pair quantizer's
/// decode table (nullptr: the shipped table of v.family and v.bits). Validates v first.
template <class Exec = serial, class K = native_kernels>
std::vector<float> decode(const quantized_view& v, const Exec& exec = {}, const K& k = {}, const float* table = nullptr) {
    const prepared_tensor t(v, table);
    std::vector<float> out(static_cast<std::size_t>(v.rows) * static_cast<std::size_t>(v.cols()));
    exec(static_cast<std::size_t>(v.rows), [&](std::size_t r0, std::size_t r1) {
        std::vector<float> scratch(t.decode_scratch_floats());
        decode_rows(t, static_cast<std::int64_t>(r0), static_cast<std::int64_t>(r1),
                    out.data() + r0 * static_cast<std::size_t>(v.cols()), scratch.data(), k);
    });
    return out;
}

/// Decodes an owning tensor (validated first).
template <class Exec = serial, class K = native_kernels>
std::vector<float> decode(const quantized_tensor& q, const Exec& exec = {}, const K& k = {}, const float* table = nullptr) {
    validate(q);
    return decode(q.view(), exec, k, table);
}

}  // namespace qamw
