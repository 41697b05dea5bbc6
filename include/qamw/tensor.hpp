// qamw/tensor.hpp — a quantized weight matrix: the owning form the encoder returns, and the non-owning view every
// decoder and product reads (from an owning tensor, or straight from a memory-mapped container: no copy).
//
// What is stored for a rows × cols matrix (docs/FORMAT.md has the bytes):
//   codes   rows × row_bytes   packed k-bit indices, row after row (stages/packer.hpp), row_bytes = ⌈(n_pad/2)·k/8⌉
//   norms   rows × binary16    r̂_i · 2^−e, little-endian (stages/normalizer.hpp), with one exponent e per tensor
//   scales  cols × binary16    activation-aware column scales s_j (stages/scaler.hpp), or none
//   seed, k, B_eff             the parameters of the decoder
#pragma once

#include <qamw/codebooks/family.hpp>
#include <qamw/error.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/normalizer.hpp>
#include <qamw/stages/packer.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace qamw {

namespace detail {
/// A weight matrix holds at most max_elements elements (and so at most that many columns).
inline void check_shape(std::int64_t rows, std::int64_t cols) {
    if (rows < 0 || cols < 1 || cols > max_elements || rows > max_elements / cols)
        throw error(errc::invalid_argument,
                    "shape " + std::to_string(rows) + "x" + std::to_string(cols) + " is not a valid weight matrix");
}
/// The little-endian binary16 at byte offset 2·i of p (p need not be aligned).
inline std::uint16_t load_u16(const std::uint8_t* p, std::size_t i) {
    return static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
}
}  // namespace detail

/// A quantized matrix that borrows its payload: nothing is copied, and the memory it points to (an owning
/// quantized_tensor, a memory-mapped container) must outlive it and everything built from it.
struct quantized_view {
    std::int64_t rows = 0;
    int bits = 0;                          ///< k
    codebook_family family = codebook_family::lm2d;  ///< the codebook family the codes index (codebooks/family.hpp)
    block_layout layout;                   ///< cols, padded cols, effective block
    std::uint64_t seed = 0;                ///< sign seed
    const std::uint8_t* codes = nullptr;   ///< rows × row_bytes()
    const std::uint8_t* norms = nullptr;   ///< rows little-endian binary16 values (2 bytes each, any alignment)
    int norm_exp2 = 0;                     ///< e
    const std::uint8_t* scales = nullptr;  ///< cols little-endian binary16 column scales, or nullptr

    std::int64_t cols() const { return layout.cols; }
    std::size_t pairs() const { return static_cast<std::size_t>(layout.padded / 2); }
    std::size_t row_bytes() const { return packed_bytes(pairs(), bits); }
    std::size_t code_bytes() const { return static_cast<std::size_t>(rows) * row_bytes(); }
    float norm(std::size_t i) const { return stored_norm_value(detail::load_u16(norms, i), norm_exp2); }
    /// Bytes of codes and side information (norms, exponent, scales); the true rate is 8 · stored_bytes / weights.
    std::size_t stored_bytes() const {
        return code_bytes() + 2 * static_cast<std::size_t>(rows) + 4 + (scales ? 2 * static_cast<std::size_t>(cols()) : 0);
    }
    double bits_per_weight() const { return 8.0 * double(stored_bytes()) / (double(rows) * double(cols())); }
};

/// A quantized matrix that owns its payload (what encode() returns).
struct quantized_tensor {
    std::int64_t rows = 0;
    int bits = 0;                             ///< k
    codebook_family family = codebook_family::lm2d;  ///< the codebook family the codes index (codebooks/family.hpp)
    block_layout layout;                      ///< cols, padded cols, effective block
    std::uint64_t seed = 0;                   ///< sign seed
    std::vector<std::uint8_t> codes;          ///< rows × row_bytes(): packed indices, row after row
    stored_norms norms;                       ///< one per row
    std::vector<std::uint16_t> col_scales;    ///< f16 scales s_j (cols of them), or empty when none were applied

    std::int64_t cols() const { return layout.cols; }
    std::size_t pairs() const { return static_cast<std::size_t>(layout.padded / 2); }
    std::size_t row_bytes() const { return packed_bytes(pairs(), bits); }
    std::size_t stored_bytes() const { return codes.size() + 2 * norms.f16.size() + 4 + 2 * col_scales.size(); }
    double bits_per_weight() const { return 8.0 * double(stored_bytes()) / (double(rows) * double(cols())); }

    /// A view of this tensor (little-endian hosts: the vectors' bytes are the stored bytes). Not on temporaries: a
    /// view of a temporary would dangle, so `view()` of an rvalue does not compile.
    quantized_view view() const& {
        quantized_view v;
        v.rows = rows, v.bits = bits, v.family = family, v.layout = layout, v.seed = seed;
        v.codes = codes.data();
        v.norms = reinterpret_cast<const std::uint8_t*>(norms.f16.data());
        v.norm_exp2 = norms.exp2;
        v.scales = col_scales.empty() ? nullptr : reinterpret_cast<const std::uint8_t*>(col_scales.data());
        return v;
    }
    quantized_view view() const&& = delete;
};

/// Checks that a view is self-consistent and decodes to finite values: k (and that its family has a codebook of k), shape, block layout, sizes (code_bytes
/// must equal `available_code_bytes` when given), every norm a non-negative finite binary16, the exponent within
/// range, every scale a positive normal binary16. Throws errc::format naming the field.
inline void validate(const quantized_view& v, std::size_t available_code_bytes = SIZE_MAX) {
    auto fail = [](const std::string& m) { throw error(errc::format, "quantized tensor: " + m); };
    if (v.bits < min_bits || v.bits > max_bits) fail("bits per pair " + std::to_string(v.bits) + " outside [4, 12]");
    if (!family_has_bits(v.family, v.bits))
        fail("codebook d8 exists for k = 9, 10, 11 (not k = " + std::to_string(v.bits) + ")");
    detail::check_shape(v.rows, v.cols());
    block_layout expect = make_block_layout(v.cols(), v.layout.block);
    if (expect.padded != v.layout.padded || expect.block != v.layout.block)
        fail("block layout does not follow the padding rule for " + std::to_string(v.cols()) + " columns");
    if (available_code_bytes != SIZE_MAX && available_code_bytes != v.code_bytes())
        fail("codes hold " + std::to_string(available_code_bytes) + " bytes, expected rows x row_bytes = " +
             std::to_string(v.code_bytes()));
    if ((v.rows > 0 && (!v.codes || !v.norms))) fail("codes or norms missing");
    if (v.norm_exp2 < min_norm_exp2 || v.norm_exp2 > max_norm_exp2)
        fail("row norm exponent " + std::to_string(v.norm_exp2) + " outside [" + std::to_string(min_norm_exp2) + ", " +
             std::to_string(max_norm_exp2) + "] (decoded weights would not be finite)");
    for (std::size_t i = 0; i < static_cast<std::size_t>(v.rows); ++i) {
        std::uint16_t h = detail::load_u16(v.norms, i);
        if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u)) fail("a row norm is negative, NaN or Inf");
    }
    if (v.scales)
        for (std::size_t j = 0; j < static_cast<std::size_t>(v.cols()); ++j) {
            std::uint16_t h = detail::load_u16(v.scales, j);
            if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u) || (h & 0x7c00u) == 0)
                fail("a column scale is not a positive normal binary16 value");
        }
}

/// Checks an owning tensor (its vectors' sizes, then its view).
inline void validate(const quantized_tensor& q) {
    if (q.norms.f16.size() != static_cast<std::size_t>(q.rows < 0 ? 0 : q.rows))
        throw error(errc::format, "quantized tensor: row norm count differs from rows");
    if (!q.col_scales.empty() && q.col_scales.size() != static_cast<std::size_t>(q.cols() < 0 ? 0 : q.cols()))
        throw error(errc::format, "quantized tensor: column scale count differs from cols");
    validate(q.view(), q.codes.size());
}

}  // namespace qamw
