// tools/common/codebooks.hpp — the tools' codebooks: each qamw::codebook (table check + nearest-point index) built once
// per k on first use and kept for the life of the process, so that the many encodes of `qamw quantize`, the AWQ search
// and the benchmarks do not rebuild it. (The library builds codebooks only when asked; this cache is the CLI's.)
#pragma once

#include <qamw/codebooks/lm2d.hpp>

#include <string>

namespace qamw::tools {

/// The codebook of k bits per pair, built on the first request for k (thread-safe). Throws for k outside [4, 12].
inline const codebook& codebook_for(int k) {
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
    lm2d_table(k);  // throws the library's range error
    throw error(errc::invalid_argument, "bits per pair k = " + std::to_string(k) + " is outside [4, 12]");
}

}  // namespace qamw::tools
