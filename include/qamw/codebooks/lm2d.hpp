// qamw/codebooks/lm2d.hpp — the shipped 2D Lloyd-Max codebooks for N(0, I₂), k = 4…12 bits per pair.
//
// The tables are generated data (tools/gen_codebooks.cpp writes lm2d_kKK.hpp; the training procedure is documented
// there and in docs/CODEBOOKS.md). Each carries an FNV-1a 64 checksum of its float32 bytes; the codebook id written into
// containers is "lm2d-k<K>" together with that checksum.
#pragma once

#include <qamw/codebooks/lm2d_k04.hpp>
#include <qamw/codebooks/lm2d_k05.hpp>
#include <qamw/codebooks/lm2d_k06.hpp>
#include <qamw/codebooks/lm2d_k07.hpp>
#include <qamw/codebooks/lm2d_k08.hpp>
#include <qamw/codebooks/lm2d_k09.hpp>
#include <qamw/codebooks/lm2d_k10.hpp>
#include <qamw/codebooks/lm2d_k11.hpp>
#include <qamw/codebooks/lm2d_k12.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/packer.hpp>

#include <cstdint>
#include <string>

namespace qamw {

/// The shipped table of k bits per pair: 2^k codewords, interleaved x0 y0 x1 y1 … (a constant: nothing is built).
/// Throws for k outside [4, 12].
inline const float* lm2d_table(int k) {
    using namespace codebooks;
    switch (k) {
        case 4: return lm2d_k04;
        case 5: return lm2d_k05;
        case 6: return lm2d_k06;
        case 7: return lm2d_k07;
        case 8: return lm2d_k08;
        case 9: return lm2d_k09;
        case 10: return lm2d_k10;
        case 11: return lm2d_k11;
        case 12: return lm2d_k12;
        default: throw error(errc::invalid_argument, "bits per pair k = " + std::to_string(k) + " is outside [4, 12]");
    }
}

/// The FNV-1a 64 checksum the generator recorded for the table of k bits per pair.
inline std::uint64_t lm2d_checksum(int k) {
    using namespace codebooks;
    const std::uint64_t sums[] = {lm2d_k04_checksum, lm2d_k05_checksum, lm2d_k06_checksum,
                                  lm2d_k07_checksum, lm2d_k08_checksum, lm2d_k09_checksum,
                                  lm2d_k10_checksum, lm2d_k11_checksum, lm2d_k12_checksum};
    lm2d_table(k);  // range check
    return sums[k - min_bits];
}

}  // namespace qamw
