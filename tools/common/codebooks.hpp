// tools/common/codebooks.hpp — the tools' codebooks: each qamw::codebook (table check + nearest-point index) built once
// per (k, family) on first use and kept for the life of the process, so that the many encodes of `qamw quantize`, the AWQ search
// and the benchmarks do not rebuild it. (The library builds codebooks only when asked; this cache is the CLI's.)
#pragma once

#include <qamw/codebooks/codebook.hpp>

#include <string>

namespace qamw::tools {

/// The codebook of k bits per pair of `family`, built on the first request for (k, family) (thread-safe). Throws
/// errc::invalid_argument when the family has no codebook of k bits (codebooks/family.hpp).
inline const codebook& codebook_for(int k, codebook_family family = codebook_family::lm2d) {
    check_family_bits(family, k);
    if (family == codebook_family::d8) {
        static const codebook d9(9, family), d10(10, family), d11(11, family);
        return k == 9 ? d9 : k == 10 ? d10 : d11;
    }
    switch (k) {
#define QAMW_CODEBOOK_CASE(K)          \
    case K: {                          \
        static const codebook cb(K);   \
        return cb;                     \
    }
        QAMW_CODEBOOK_CASE(4)
        QAMW_CODEBOOK_CASE(5)
        QAMW_CODEBOOK_CASE(6)
        QAMW_CODEBOOK_CASE(7)
        QAMW_CODEBOOK_CASE(8)
        QAMW_CODEBOOK_CASE(9)
        QAMW_CODEBOOK_CASE(10)
        QAMW_CODEBOOK_CASE(11)
        QAMW_CODEBOOK_CASE(12)
#undef QAMW_CODEBOOK_CASE
        default: break;
    }
    throw error(errc::invalid_argument, "bits per pair k = " + std::to_string(k) + " is outside [4, 12]");
}

}  // namespace qamw::tools
