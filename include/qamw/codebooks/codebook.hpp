// qamw/codebooks/codebook.hpp — the one place that maps (family, k) to a shipped table and its checksum, and
// qamw::codebook: one table, checked, with its nearest-point search index (what the encoder needs).
#pragma once

#include <qamw/codebooks/d8.hpp>
#include <qamw/codebooks/family.hpp>
#include <qamw/codebooks/lm2d.hpp>
#include <qamw/detail/hash.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/codebook.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qamw {

/// The shipped decode table of family f and k bits per pair: 2^k codewords, interleaved x0 y0 x1 y1 … in code order
/// (a constant: nothing is built). Throws errc::invalid_argument when f has no codebook of k bits (codebooks/family.hpp).
inline const float* codebook_table(codebook_family f, int k) {
    check_family_bits(f, k);
    return f == codebook_family::d8 ? d8_table(k) : lm2d_table(k);
}

/// The FNV-1a 64 checksum the generator recorded for the table of family f and k bits per pair.
inline std::uint64_t codebook_checksum(codebook_family f, int k) {
    check_family_bits(f, k);
    return f == codebook_family::d8 ? d8_checksum(k) : lm2d_checksum(k);
}

/// Checks the shipped table of family f and k bits: its checksum and, for d8, its symmetry (codebooks/d8.hpp).
/// Throws errc::format naming the codebook id.
inline void check_codebook_table(codebook_family f, int k) {
    const float* xy = codebook_table(f, k);
    const std::size_t n = std::size_t{1} << k;
    if (detail::fnv1a64(xy, 2 * n * sizeof(float)) != codebook_checksum(f, k))
        throw error(errc::format, "codebook " + codebook_id(f, k) + ": table does not match its checksum");
    if (f == codebook_family::d8) check_d8_structure(xy, k, d8_grid(k), codebook_id(f, k));
}

/// One codebook with its nearest-point search index: what the encoder needs (decoders need only codebook_table()).
/// Built on request only (nothing in the library builds one behind the caller's back): checking the table and building
/// the index take 0.6 ms at k = 7, 25 ms at k = 11, 77 ms at k = 12 (bench/bench_codec.cpp, bm_codebook), so build one
/// per (k, family) and reuse it; immutable, so one object may be shared between threads.
class codebook {
public:
    /// Throws errc::invalid_argument when `family` has no codebook of `bits` (d8: k = 9, 10, 11 only).
    explicit codebook(int bits, codebook_family family = codebook_family::lm2d)
        : bits_(bits), family_(family), xy_(codebook_table(family, bits)) {
        check_codebook_table(family, bits);
        std::size_t n = std::size_t{1} << bits;
        xs_.resize(n), ys_.resize(n);
        for (std::size_t i = 0; i < n; ++i) xs_[i] = xy_[2 * i], ys_[i] = xy_[2 * i + 1];
        index_ = nearest_index(xs_.data(), ys_.data(), n);
    }
    codebook(const codebook&) = delete;
    codebook& operator=(const codebook&) = delete;

    int bits() const { return bits_; }
    codebook_family family() const { return family_; }
    std::size_t size() const { return xs_.size(); }
    std::uint64_t checksum() const { return codebook_checksum(family_, bits_); }
    std::string id() const { return codebook_id(family_, bits_); }
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
    codebook_family family_;
    const float* xy_;
    std::vector<float> xs_, ys_;
    nearest_index index_;
};

}  // namespace qamw
