// qamw/stages/pairer.hpp — the pairing stage: a rotated row of n_pad coordinates becomes n_pad/2 points of the plane.
//
// Math. Point j is (t[2j], t[2j+1]): adjacent coordinates, which after the randomized Hadamard transform are
// uncorrelated with equal variance, so each point is ~N(0, I₂). Forward splits the interleaved row into the x and y
// coordinate arrays (the layout the codebook search and the SIMD kernels read); inverse interleaves them back.
// Lossless.
#pragma once

#include <cstddef>

namespace qamw {

/// t[0, 2m) → xs[0, m), ys[0, m).
inline void pair_split(const float* t, std::size_t m, float* xs, float* ys) {
    for (std::size_t j = 0; j < m; ++j) xs[j] = t[2 * j], ys[j] = t[2 * j + 1];
}

/// xs[0, m), ys[0, m) → t[0, 2m).
inline void pair_join(const float* xs, const float* ys, std::size_t m, float* t) {
    for (std::size_t j = 0; j < m; ++j) t[2 * j] = xs[j], t[2 * j + 1] = ys[j];
}

}  // namespace qamw
