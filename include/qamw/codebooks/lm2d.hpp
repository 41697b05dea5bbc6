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
#include <qamw/detail/hash.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/codebook.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

constexpr int min_bits = 4, max_bits = 12;

/// One codebook with its search index. Obtain through lm2d(k); immutable and shared between threads.
class codebook {
public:
    codebook(int bits, const float* xy, std::uint64_t checksum) : bits_(bits), checksum_(checksum), xy_(xy) {
        std::size_t n = std::size_t{1} << bits;
        if (detail::fnv1a64(xy, 2 * n * sizeof(float)) != checksum)
            throw error(errc::format, "codebook lm2d-k" + std::to_string(bits) + ": table does not match its checksum");
        xs_.resize(n), ys_.resize(n);
        for (std::size_t i = 0; i < n; ++i) xs_[i] = xy[2 * i], ys_[i] = xy[2 * i + 1];
        index_ = nearest_index(xs_.data(), ys_.data(), n);
    }
    codebook(const codebook&) = delete;
    codebook& operator=(const codebook&) = delete;

    int bits() const { return bits_; }
    std::size_t size() const { return xs_.size(); }
    std::uint64_t checksum() const { return checksum_; }
    std::string id() const { return "lm2d-k" + std::to_string(bits_); }
    const float* xs() const { return xs_.data(); }  ///< x coordinates, size() of them
    const float* ys() const { return ys_.data(); }  ///< y coordinates
    const float* xy() const { return xy_; }         ///< interleaved x0 y0 x1 y1 … (the shipped table)
    const nearest_index& index() const { return index_; }
    std::uint32_t nearest(float x, float y) const { return index_.nearest(x, y); }

private:
    int bits_;
    std::uint64_t checksum_;
    const float* xy_;
    std::vector<float> xs_, ys_;
    nearest_index index_;
};

/// The shipped codebook for k bits per pair (built on first use, then shared). Throws for k outside [4, 12].
inline const codebook& lm2d(int k) {
    using namespace codebooks;
    switch (k) {
#define QAMW_LM2D_CASE(K, NAME)                                   \
    case K: {                                                     \
        static const codebook cb(K, NAME, NAME##_checksum);       \
        return cb;                                                \
    }
        QAMW_LM2D_CASE(4, lm2d_k04)
        QAMW_LM2D_CASE(5, lm2d_k05)
        QAMW_LM2D_CASE(6, lm2d_k06)
        QAMW_LM2D_CASE(7, lm2d_k07)
        QAMW_LM2D_CASE(8, lm2d_k08)
        QAMW_LM2D_CASE(9, lm2d_k09)
        QAMW_LM2D_CASE(10, lm2d_k10)
        QAMW_LM2D_CASE(11, lm2d_k11)
        QAMW_LM2D_CASE(12, lm2d_k12)
#undef QAMW_LM2D_CASE
        default:
            throw error(errc::invalid_argument,
                        "bits per pair k = " + std::to_string(k) + " is outside [4, 12]");
    }
}

}  // namespace qamw
