// qamw/stages/fwht.hpp — the randomized block Walsh–Hadamard stage.
//
// Math. A row of n coordinates is zero-padded to n_pad = ⌈n/32⌉·32 and split into blocks of B_eff coordinates, where
// B_eff is the largest power of two ≤ B that divides n_pad (always ≥ 32). On each block the stage applies
//     forward:  t = g · H (D ⊙ v)        inverse:  v = D ⊙ (g' · H t)
// D is a ±1 vector over the whole padded row drawn from the 64-bit seed (sign of coordinate j is bit j mod 64 of
// word j/64, word w = splitmix64(seed + w·0x9e3779b97f4a7c15); a set bit means −1), and H the unnormalized Sylvester
// Hadamard matrix of order B_eff (H·H = B_eff·I). The caller picks the gains g, g' (the codec uses them to fold in row
// normalisation and the √(n_pad/B_eff) factor that gives rotated coordinates unit variance). Invertible: with
// g·g' = 1/B_eff the inverse returns the input up to rounding.
//
// H is applied as log2(B_eff) radix-2 butterfly passes with distance h = 1, 2, 4, …, B_eff/2, each pass mapping
// (a, b) = (x[j], x[j+h]) to (a + b, a − b). The pass order is part of the format: it fixes every rounding, so the
// scalar reference and every SIMD kernel produce the same bits.
#pragma once

#include <qamw/detail/hash.hpp>
#include <qamw/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

/// How a row of `cols` coordinates is laid out for the transform.
struct block_layout {
    std::int64_t cols = 0;    ///< n: coordinates in the row
    std::int64_t padded = 0;  ///< n_pad: n rounded up to a multiple of 32
    int block = 0;            ///< B_eff: Hadamard block actually used
};

/// The most elements a weight matrix may hold (and so the most columns a row may have).
inline constexpr std::int64_t max_elements = std::int64_t{1} << 40;

/// Applies the padding and block rule of the file comment; `block` (B) must be a power of two in [32, 4096].
inline block_layout make_block_layout(std::int64_t cols, int block) {
    if (block < 32 || block > 4096 || (block & (block - 1)) != 0)
        throw error(errc::invalid_argument,
                    "block size B = " + std::to_string(block) + " must be a power of two in [32, 4096]");
    if (cols < 1 || cols > max_elements)
        throw error(errc::invalid_argument, "row length must be in [1, 2^40], got " + std::to_string(cols));
    block_layout l;
    l.cols = cols;
    l.padded = (cols + 31) / 32 * 32;
    l.block = block;
    while (l.padded % l.block != 0) l.block /= 2;
    return l;
}

/// The sign vector D of length n as ±1.0f (see the file comment).
inline std::vector<float> hadamard_signs(std::uint64_t seed, std::int64_t n) {
    std::vector<float> s(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) {
        std::uint64_t word = detail::splitmix64(seed + static_cast<std::uint64_t>(j / 64) * 0x9e3779b97f4a7c15ull);
        s[static_cast<std::size_t>(j)] = ((word >> (j % 64)) & 1u) ? -1.0f : 1.0f;
    }
    return s;
}

namespace ref {
/// Unnormalized Hadamard butterflies, in place, on each block of `block` floats of x[0, n); n % block == 0.
inline void fwht_blocks(float* x, std::size_t n, std::size_t block) {
    for (std::size_t base = 0; base < n; base += block)
        for (std::size_t h = 1; h < block; h *= 2)
            for (std::size_t i = base; i < base + block; i += 2 * h)
                for (std::size_t j = i; j < i + h; ++j) {
                    float a = x[j], b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
}

/// x ← gain · H(signs ⊙ x) on each block (n % block == 0).
inline void fwht_forward(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= signs[i];
    fwht_blocks(x, n, block);
    for (std::size_t i = 0; i < n; ++i) x[i] *= gain;
}

/// x ← signs ⊙ (gain · H x) on each block.
inline void fwht_inverse(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
    fwht_blocks(x, n, block);
    for (std::size_t i = 0; i < n; ++i) x[i] = x[i] * gain * signs[i];
}
}  // namespace ref

}  // namespace qamw
