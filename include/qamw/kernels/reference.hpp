// qamw/kernels/reference.hpp — scalar references of the product kernels (kernels/product.hpp): plain loops in the
// order the math is written, which the SIMD kernels are tested against (lookup_row bit-exactly, the sums within a
// stated tolerance, since SIMD sums in a different order).
#pragma once

#include <qamw/stages/packer.hpp>

#include <cstddef>
#include <cstdint>

namespace qamw::ref {

/// out[0, 2·pairs) ← codeword coordinates (table2 interleaved: codeword i = table2[2i], table2[2i+1]).
inline void lookup_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out) {
    for (std::size_t p = 0; p < pairs; ++p) {
        std::uint16_t i = unpack_one(codes, p, k);
        out[2 * p] = table2[2 * i], out[2 * p + 1] = table2[2 * i + 1];
    }
}

/// Σ_p ⟨codeword(code_p), (xt[2p], xt[2p+1])⟩, summed in order.
inline float dot_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt) {
    float s = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
        std::uint16_t i = unpack_one(codes, p, k);
        s += table2[2 * i] * xt[2 * p] + table2[2 * i + 1] * xt[2 * p + 1];
    }
    return s;
}

/// y[b·ldy + i] = Σ_{j<n} q[i·ldq + j] · x[b·ldx + j].
inline void dot_tile(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                     std::size_t nb, std::size_t n, float* y, std::size_t ldy) {
    for (std::size_t b = 0; b < nb; ++b)
        for (std::size_t i = 0; i < rows; ++i) {
            float s = 0;
            for (std::size_t j = 0; j < n; ++j) s += q[i * ldq + j] * x[b * ldx + j];
            y[b * ldy + i] = s;
        }
}

}  // namespace qamw::ref
