// tools/baselines/scalar.hpp — PolarQuant-style scalar coding after the same rotation: the per-coordinate baseline.
//
// Math. Each row (optionally scaled by the f16 column scales, zero-padded to n_pad = ⌈cols/32⌉·32) is cut into blocks
// of B = 128 coordinates (B_eff, the largest power of two ≤ 128 dividing n_pad, when cols is not a multiple of 128).
// Block v with norm ν = ‖v‖ (stored as f16 with one power-of-two exponent shared by the whole tensor,
// stages/normalizer.hpp) is rotated by the same randomized Hadamard transform as QAM-W (signs from params{}.seed):
//     t = H D v / ν̂          (H unnormalised, so ‖t‖ = √B: every coordinate ≈ N(0, 1))
// and every coordinate is coded with the b-bit scalar Lloyd-Max quantizer for N(0, 1) (baselines/scalar_lloyd.hpp).
// Decode: v̂ = ν̂ / B · D H t̂. The expected relative MSE is scalar_lloyd(b).mse().
// Stored bits per row: b·n_pad (byte-aligned rows) + 16 per block; per tensor: 32 (the norm exponent) + 16·cols when
// column scales are applied. For cols a multiple of 128 that is b + 0.125 bits per weight, PolarQuant's rate.
#pragma once

#include "baselines/row_pipeline.hpp"
#include "baselines/scalar_lloyd.hpp"
#include <qamw/codec.hpp>
#include <qamw/error.hpp>
#include "common/parallel.hpp"
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/normalizer.hpp>
#include <qamw/stages/packer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw::baselines {

constexpr int scalar_min_bits = 1, scalar_max_bits = 8;
constexpr int scalar_norm_block = 128;  ///< PolarQuant's block: one f16 norm per 128 weights

/// Stored bits of a rows × cols matrix under the scalar baseline at b bits per coordinate (file comment).
inline double scalar_codec_bits(std::int64_t rows, std::int64_t cols, int b, bool col_scales) {
    block_layout l = make_block_layout(cols, scalar_norm_block);
    const double per_row =
        8.0 * double(packed_bytes(static_cast<std::size_t>(l.padded), b)) + 16.0 * double(l.padded / l.block);
    return per_row * double(rows) + 32 + (col_scales ? 16.0 * double(cols) : 0.0);
}

/// Scalar coding of a rows × cols row-major f32 matrix at b bits per coordinate (1…8): writes the reconstruction
/// (rows × cols floats) to out and returns the stored bits. col_scales: cols floats in the f16 normal range, or
/// nullptr. Deterministic for any thread count. Throws qamw::error for a bad shape, b, scale or a non-finite weight.
inline double scalar_reconstruct(const float* w, std::int64_t rows, std::int64_t cols, int b, const float* col_scales,
                                 int threads, float* out) {
    qamw::detail::check_shape(rows, cols);
    if (b < scalar_min_bits || b > scalar_max_bits)
        throw error(errc::invalid_argument, "scalar: bits per coordinate b = " + std::to_string(b) + " outside [1, 8]");
    qamw::detail::check_finite(w, rows, cols);
    const scalar_lloyd q(b);
    const block_layout l = make_block_layout(cols, scalar_norm_block);
    const row_pipeline rp(w, rows, cols, col_scales, l.padded);
    const std::size_t np = static_cast<std::size_t>(l.padded), B = static_cast<std::size_t>(l.block), nb = np / B;
    std::vector<double> norms(rp.rows() * nb);
    parallel_for(rp.rows(), threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(np);
        for (std::size_t i = r0; i < r1; ++i) {
            rp.load(i, row.data());
            for (std::size_t k = 0; k < nb; ++k) norms[i * nb + k] = row_norm(row.data() + k * B, B);
        }
    });
    const stored_norms sn = store_norms(norms);
    const std::vector<float> signs = hadamard_signs(params{}.seed, l.padded);
    rp.reconstruct([&](std::size_t i, float* row) {
        for (std::size_t k = 0; k < nb; ++k) {
            float* v = row + k * B;
            const float nu = sn.value(i * nb + k);
            if (nu == 0) {
                std::fill(v, v + B, 0.0f);
                continue;
            }
            qamw::ref::fwht_forward(v, signs.data() + k * B, B, B, 1.0f / nu);
            for (std::size_t j = 0; j < B; ++j) v[j] = q.decode(q.encode(v[j]));
            qamw::ref::fwht_inverse(v, signs.data() + k * B, B, B, nu / float(B));
        }
    }, threads, out);
    return scalar_codec_bits(rows, cols, b, col_scales != nullptr);
}

}  // namespace qamw::baselines
