// qamw/codebooks/d8.hpp — the shipped D8-symmetric codebooks, k = 9, 10, 11 bits per pair.
//
// Each has the symmetry of the square: n_b = 2^k / 8 base points B[b] strictly inside the wedge 0 < y < x, and code
// c = s·n_b + b (s = c >> (k − 3), b = c & (n_b − 1)) decodes to T_s(B[b]), where T_s applies, in this order, (x, y) ←
// (y, x) if s & 4, x ← −x if s & 1, y ← −y if s & 2 (docs/FORMAT.md). The tables are generated data
// (tools/gen_codebooks.cpp --d8 writes d8_kKK.hpp): the full expanded table of 2^k points in code order with an
// FNV-1a 64 checksum of its float32 bytes; the codebook id written into containers is "d8-k<K>".
#pragma once

#include <qamw/codebooks/d8_k09.hpp>
#include <qamw/codebooks/d8_k10.hpp>
#include <qamw/codebooks/d8_k11.hpp>
#include <qamw/codebooks/family.hpp>
#include <qamw/error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace qamw {

/// The shipped D8 table of k bits per pair: 2^k points, interleaved x0 y0 x1 y1 … in code order. Throws for k
/// outside [9, 11].
inline const float* d8_table(int k) {
    using namespace codebooks;
    check_family_bits(codebook_family::d8, k);
    return k == 9 ? d8_k09 : k == 10 ? d8_k10 : d8_k11;
}

/// The FNV-1a 64 checksum the generator recorded for the D8 table of k bits per pair.
inline std::uint64_t d8_checksum(int k) {
    using namespace codebooks;
    check_family_bits(codebook_family::d8, k);
    return k == 9 ? d8_k09_checksum : k == 10 ? d8_k10_checksum : d8_k11_checksum;
}

/// The grid of the D8 table of k bits per pair: every coordinate is u · d8_grid(k) with an integer |u| ≤ 255 (base
/// coordinates 1 … 255), exactly in float, so the integer path holds the codebook in bytes without rounding
/// (make_int_codebook, kernels/int_format.hpp).
inline float d8_grid(int k) {
    using namespace codebooks;
    check_family_bits(codebook_family::d8, k);
    return k == 9 ? d8_k09_grid : k == 10 ? d8_k10_grid : d8_k11_grid;
}

/// Checks the D8 structure of a table of 2^k points (interleaved x y): every base point strictly inside the wedge
/// 0 < y < x with both coordinates on the grid (u · grid, u an integer in 1 … 255), and every entry equal, bit for bit,
/// to T_s of its base point. Throws errc::format naming `id` and the first entry that breaks the rule.
inline void check_d8_structure(const float* xy, int k, float grid, const std::string& id) {
    const std::size_t nb = (std::size_t{1} << k) / 8;
    for (std::size_t b = 0; b < nb; ++b) {
        if (!(xy[2 * b + 1] > 0 && xy[2 * b + 1] < xy[2 * b]))
            throw error(errc::format, "codebook " + id + ": base point " + std::to_string(b) +
                                          " is not strictly inside the wedge 0 < y < x");
        for (int j = 0; j < 2; ++j) {
            const double u = std::round(double(xy[2 * b + j]) / grid);
            if (u > 255 || double(xy[2 * b + j]) != u * grid)
                throw error(errc::format, "codebook " + id + ": base point " + std::to_string(b) +
                                              " is not on the grid (a multiple u of the grid step, 1 <= u <= 255)");
        }
    }
    for (int s = 1; s < 8; ++s)
        for (std::size_t b = 0; b < nb; ++b) {
            float x = xy[2 * b], y = xy[2 * b + 1];
            d8_transform(s, x, y);
            const std::size_t c = static_cast<std::size_t>(s) * nb + b;
            if (std::memcmp(&x, &xy[2 * c], sizeof x) != 0 || std::memcmp(&y, &xy[2 * c + 1], sizeof y) != 0)
                throw error(errc::format, "codebook " + id + ": entry " + std::to_string(c) + " is not T_" +
                                              std::to_string(s) + " of base point " + std::to_string(b));
        }
}

}  // namespace qamw
