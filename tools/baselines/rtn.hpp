// tools/baselines/rtn.hpp — round-to-nearest absmax quantization in groups of g consecutive weights of a row, with an
// f16 scale per group; plain or after QAM-W's randomized block Hadamard rotation. The incumbent's simplest formats
// (llama.cpp Q4_0 / Q8_0 are g = 32 instances) and the "rotation alone" point of PolarQuant's ablation.
//
// Math. For b bits and a group x_1 … x_g:
//   levels::full (default, llama.cpp Q4_0's rule): m = the x of largest |x| (first in index order on ties),
//       d = f16(m / −2^(b−1)), q_i = clamp(round(x_i / d), −2^(b−1), 2^(b−1) − 1), x̂_i = d·q_i.
//       All 2^b codes are used; the largest-magnitude weight lands exactly on the extreme level −2^(b−1) (up to the f16
//       rounding of d), whichever its sign.
//   levels::symmetric: d = f16(max|x| / (2^(b−1) − 1)), q_i = clamp(round(x_i / d), ±(2^(b−1) − 1)), x̂_i = d·q_i.
//       2^b − 1 codes: one is wasted, which costs log2(2^b / (2^b − 1)) bits of resolution (0.09 bit at b = 4).
//   Both spend the same side information (one f16 per group); full's step is 2^(b−1)/(2^(b−1) − 1) times finer, and
//   measured on Gaussian rows (test_baselines.cpp) its MSE is lower by that factor squared (g = 32, b = 4: relative
//   MSE 0.0074 against 0.0095), so the registry uses full: the strongest RTN at the same bits.
//   The encoder divides by the stored (rounded) d, so the decoder's scale is the encoder's; a group whose d rounds to 0
//   decodes to zeros; a d beyond the f16 range is an error.
// Rotation (the "-rot" variants): each row, zero-padded to n_pad = ⌈cols/32⌉·32, is rotated by the orthonormal
// transform t = H D w / √B_eff (the block layout, B = 256, and signs of QAM-W's defaults, stages/fwht.hpp), grouped and
// rounded in the rotated domain (the padding is coded too), and rotated back.
// Stored bits per row: b·n (byte-aligned rows) + 16·⌈n/g⌉ with n = cols (plain) or n_pad (rotated); plus 16·cols per
// tensor when column scales are applied. For g = 32: b + 0.5 bits per weight; for g = 128: b + 0.125.
#pragma once

#include "baselines/row_pipeline.hpp"
#include <qamw/codec.hpp>
#include <qamw/detail/half.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/packer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw::baselines {

constexpr int rtn_min_bits = 2, rtn_max_bits = 8;

struct rtn_params {
    enum class levels { full, symmetric };
    int bits = 4;                   ///< b: bits per weight for the codes (2…8)
    int group = 32;                 ///< g: weights per f16 scale (≥ 1)
    bool rotate = false;            ///< apply QAM-W's randomized block Hadamard first
    levels mode = levels::full;
};

namespace ref {
/// Quantizes n floats of x in place (quantize then dequantize) as one RTN group.
inline void rtn_group(float* x, std::size_t n, int bits, rtn_params::levels mode) {
    float m = 0, am = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > am) am = std::fabs(x[i]), m = x[i];
    const int half = 1 << (bits - 1);
    const float lo = mode == rtn_params::levels::full ? float(-half) : float(-(half - 1)), hi = float(half - 1);
    const float raw = mode == rtn_params::levels::full ? m / float(-half) : am / float(half - 1);
    const std::uint16_t h = qamw::detail::f32_to_f16(raw);
    if ((h & 0x7c00u) == 0x7c00u)
        throw error(errc::invalid_argument, "rtn: a group scale " + std::to_string(raw) + " overflows binary16");
    const float d = qamw::detail::f16_to_f32(h);
    if (d == 0) {
        std::fill(x, x + n, 0.0f);
        return;
    }
    for (std::size_t i = 0; i < n; ++i) x[i] = d * std::min(hi, std::max(lo, std::nearbyint(x[i] / d)));
}
}  // namespace ref

/// Coded length of a row: cols, or n_pad when rotated.
inline std::int64_t rtn_row_length(std::int64_t cols, const rtn_params& rp) {
    return rp.rotate ? make_block_layout(cols, params{}.block).padded : cols;
}

/// Stored bits of a rows × cols matrix (file comment).
inline double rtn_codec_bits(std::int64_t rows, std::int64_t cols, const rtn_params& rp, bool col_scales) {
    const std::int64_t n = rtn_row_length(cols, rp);
    const double per_row = 8.0 * double(packed_bytes(static_cast<std::size_t>(n), rp.bits)) +
                           16.0 * double((n + rp.group - 1) / rp.group);
    return per_row * double(rows) + (col_scales ? 16.0 * double(cols) : 0.0);
}

/// RTN coding of a rows × cols row-major f32 matrix: writes the reconstruction (rows × cols floats) to out and returns
/// the stored bits. col_scales: cols floats in the f16 normal range, or nullptr. Deterministic for any thread count.
/// Throws qamw::error for a bad shape, bits, group, scale, a non-finite weight, or a group scale beyond binary16.
inline double rtn_reconstruct(const float* w, std::int64_t rows, std::int64_t cols, const rtn_params& rp,
                              const float* col_scales, int threads, float* out) {
    qamw::detail::check_shape(rows, cols);
    if (rp.bits < rtn_min_bits || rp.bits > rtn_max_bits)
        throw error(errc::invalid_argument, "rtn: bits per weight b = " + std::to_string(rp.bits) + " outside [2, 8]");
    if (rp.group < 1) throw error(errc::invalid_argument, "rtn: group size must be ≥ 1");
    qamw::detail::check_finite(w, rows, cols);
    const block_layout l = make_block_layout(cols, params{}.block);
    const row_pipeline pipe(w, rows, cols, col_scales, rtn_row_length(cols, rp));
    const std::size_t len = pipe.length(), g = static_cast<std::size_t>(rp.group), B = static_cast<std::size_t>(l.block);
    const std::vector<float> signs = rp.rotate ? hadamard_signs(params{}.seed, l.padded) : std::vector<float>{};
    const float gain = float(1 / std::sqrt(double(B)));
    pipe.reconstruct([&](std::size_t, float* row) {
        if (rp.rotate) qamw::ref::fwht_forward(row, signs.data(), len, B, gain);
        for (std::size_t j = 0; j < len; j += g) ref::rtn_group(row + j, std::min(g, len - j), rp.bits, rp.mode);
        if (rp.rotate) qamw::ref::fwht_inverse(row, signs.data(), len, B, gain);
    }, threads, out);
    return rtn_codec_bits(rows, cols, rp, col_scales != nullptr);
}

}  // namespace qamw::baselines
