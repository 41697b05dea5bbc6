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
#include <qamw/stages/packer.hpp>

#include <cstdint>
#include <string>
#include <vector>

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

/// The codebook id written into containers.
inline std::string lm2d_id(int k) { return "lm2d-k" + std::to_string(k); }

/// One codebook with its nearest-point search index: what the encoder needs (decoders need only lm2d_table()).
/// Built on request only (nothing in the library builds one behind the caller's back): checking the table and building
/// the index take 0.6 ms at k = 7, 25 ms at k = 11, 77 ms at k = 12 (bench/bench_codec.cpp, bm_codebook), so build one
/// per k and reuse it; immutable, so one object may be shared between threads.
class codebook {
public:
    explicit codebook(int bits) : bits_(bits), xy_(lm2d_table(bits)) {
        std::size_t n = std::size_t{1} << bits;
        if (detail::fnv1a64(xy_, 2 * n * sizeof(float)) != lm2d_checksum(bits))
            throw error(errc::format, "codebook " + lm2d_id(bits) + ": table does not match its checksum");
        xs_.resize(n), ys_.resize(n);
        for (std::size_t i = 0; i < n; ++i) xs_[i] = xy_[2 * i], ys_[i] = xy_[2 * i + 1];
        index_ = nearest_index(xs_.data(), ys_.data(), n);
    }
    codebook(const codebook&) = delete;
    codebook& operator=(const codebook&) = delete;

    int bits() const { return bits_; }
    std::size_t size() const { return xs_.size(); }
    std::uint64_t checksum() const { return lm2d_checksum(bits_); }
    std::string id() const { return lm2d_id(bits_); }
    const float* xs() const { return xs_.data(); }  ///< x coordinates, size() of them
    const float* ys() const { return ys_.data(); }  ///< y coordinates
    const float* xy() const { return xy_; }         ///< interleaved x0 y0 x1 y1 … (the shipped table)
    const nearest_index& index() const { return index_; }
    std::uint32_t nearest(float x, float y) const { return index_.nearest(x, y); }
    /// The pair-quantizer shape (codec.hpp): encode = nearest codeword, table = the shipped table.
    std::uint32_t encode(float x, float y) const { return index_.nearest(x, y); }
    const float* table() const { return xy_; }

private:
    int bits_;
    const float* xy_;
    std::vector<float> xs_, ys_;
    nearest_index index_;
};

}  // namespace qamw
