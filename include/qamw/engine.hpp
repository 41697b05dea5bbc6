// qamw/engine.hpp — what an inference engine runs every token: products and decodes straight from the packed codes,
// on row ranges, on the engine's own threads, into the engine's own memory.
//
// Math. Decoding gives ŵ_ij = r̂_i / √(n_pad·B) · (D H ĉ_i)_j / s_j, so for an activation x
//     y_i = Σ_j ŵ_ij x_j = r̂_i · ⟨ĉ_i, x̃⟩,   x̃ = H D (x ⊘ s) / √(n_pad·B)   (zero-padded to n_pad, H symmetric)
// x̃ is computed once per product (rotate, O(n log B)); every row is then one pass over its codes: a table lookup per
// pair and a dot product with x̃ (dot_rows), with no inverse transform and no dequantized copy of the matrix. The
// batched product (gemm_rows, m activation rows) decodes a tile of rows into codeword coordinates once and reuses it
// for all m rows. decode_rows runs the inverse stages: lookup, inverse FWHT with gain r̂_i/√(n_pad·B), ⊘ s.
//
// Cost per weight: dot_rows reads k/8 bytes of codes (its bandwidth bound) and does ½ table lookup + 1 multiply-add;
// gemm_rows decodes each weight once per call and does m multiply-adds with it.
//
// Contract. A prepared_tensor is built once per tensor (it validates the view, then holds the sign vector, the f32
// norms and scales, and a padded copy of the last rows' codes); it borrows the view's memory, which must outlive it.
// The row-range functions are const on it, allocate nothing, start no threads, touch no global state and may be
// called concurrently from any threads for any row ranges; they take the kernel set as an argument (K:
// simd_kernels<Arch> to inline, a kernel_table from qamw/dispatch.hpp to dispatch, ref_kernels for the references).
// Overread: the lookup kernels read up to kernels::overread bytes past a row's codes; prepared_tensor::row_codes()
// makes that safe for every row (the rows whose codes end within overread bytes of the payload's end are served from
// its padded copy), so the payload itself needs no padding.
//
// Integer path (issue 13): quantize_activation, int_dot_rows, int_gemm_rows. The same products with both operands
// integers (formats, tables, scalar references and the error bound: kernels/int_format.hpp; SIMD kernels:
// kernels/int_product.hpp):
//     y_i ≈ r̂_i · s_c · Σ_b d_b · Σ_{p ∈ b} (cx_p·ax_p + cy_p·ay_p)      (inner sums exact in int32; b: 16 pairs on
//                                                                         q8, 64 on q16)
// with the codebook as integers (cx, cy) · s_c, held by the prepared tensor (built once at construction when asked
// for: prepared_tensor(v, table, true); 18 KiB) and x̃ quantized once per product into caller scratch as
// d_b · (ax, ay) per block, by the kernel set's quantize_q8a / quantize_q16a (quantize_activation; SIMD on AVX2,
// AVX-512 and NEON with the scalar references' bits: kernels/int_quantize.hpp). That step is serial in a threaded
// product (one thread quantizes, the others wait), so it is vectorized like the row kernels. Three paths, fixed per
// (kernel set, tensor) by int_uses_q8 and int_uses_q16s (kernels/table.hpp):
//   q8  k ≤ the kernel set's q8_max_bits (AVX-512 VBMI + VNNI, NEON and the scalar reference 8, AVX-512BW 7, AVX2 6;
//       kernels/int_product.hpp): int8 codewords looked up in registers; on AVX-512 VNNI 64 pairs per instruction
//       (vpermi2b), int8 activations, vpdpbusd. Per weight: k/16 bytes of codes, ≈ 16/128 (k = 7) or 19/128 (k = 8)
//       instructions (counted from the loop's source, loads and the prefetch included). Measured cost on house-a
//       heldout KLD (AVX-512 VNNI): within 1 % of the f32 path at k = 7, 8.
//   q16 every other case: int16 (x, y) codewords (|c| ≤ 2047), one 32-bit table entry per code (scalar loads), int16
//       activations (|a| ≤ 4095, one scale per 64 pairs), vpmaddwd per 8 pairs (AVX-512 VNNI: vpdpwssd). Per
//       weight: k/16 bytes of codes and one 4-byte table read per pair (from L1/L2), ≈ 3 instructions. KLD against
//       the f32 path: docs/PERFORMANCE.md "Integer kernels".
//   split q16  d8 codebooks (codebooks/d8.hpp) at k = 9…11 on AVX-512 VBMI + VNNI, once the tensor's codes are in
//       the split layout (prepared_tensor::use_split_codes: the codes' low bytes in the kernel's lane order and their
//       high bits as 64-bit masks, a copy made at load into caller memory): the q16 activation's integers split into
//       bytes (block_q16s), the codebook's base on its 8-bit grid in registers, the symmetry as byte blends and masked
//       negations, vpdpbusd (x86::q16_d8): q16's sums and floats bit for bit, 41 instructions per 128 weights in the
//       compiled k = 11 loop, no table loads. Without split codes a d8 tensor runs on q16.
// Batched (int_gemm_rows, m activations): tiles of int_gemm_tile_rows rows. On q8 each tile's codes stay in cache and
// the register lookups are redone per activation (a few instructions per 64 pairs). On q16 (m ≥ 2) each tile's table
// entries are looked up once into caller scratch (int_gemm_scratch_words(): 4 bytes per pair, 128 KiB at 4096
// columns) and a register-blocked micro-kernel (kernel set's dot_words_q16; AVX-512 VNNI: 4 rows × 4 activations
// in zmm accumulators) runs every activation against them: ≈ 0.08 instructions per weight and activation. The split
// q16 path batches the same way (its activations also hold the q16 blocks; the d8 table's words are exact): its
// sums are q16's.
// Error bound per row (tests/test_int_kernels.cpp checks it on every ISA): |⟨ĉ, x̃⟩_int − ⟨ĉ, x̃⟩| ≤ Σ_p Σ_coord
// (s_c/2·|x̃| + |c|·d_b/2 + s_c·d_b/4) plus float rounding of the outer sum; the f32 products stay the reference.
// Overread: the q8 kernels read no byte past a row's codes, the q16 kernels ≤ 6 (within kernels::overread): row_codes()
// covers both. The activation scratch (int_activation_bytes() bytes per activation row, 8-byte aligned, 64
// recommended) starts with a header naming its path and length, so an activation quantized for another tensor shape or
// kernel set is refused (errc::invalid_argument), never misread; a NaN or Inf in x̃ is refused (errc::non_finite). At
// 64 bytes the q16 GEMM's activation loads never split a cache line (docs/PERFORMANCE.md "Integer kernels": 16 bytes
// off cost it about a quarter of its speed).
// The same kernel set gives the same bits for a row whichever function, row range or batch computes it.
#pragma once

#include <qamw/codebooks/codebook.hpp>
#include <qamw/error.hpp>
#include <qamw/executor.hpp>
#include <qamw/kernels/int_format.hpp>
#include <qamw/kernels/lookup.hpp>
#include <qamw/kernels/table.hpp>
#include <qamw/stages/fwht.hpp>
#include <qamw/stages/scaler.hpp>
#include <qamw/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace qamw {

/// Rows of a gemm_rows tile: the decoded tile (tile_rows × n_pad floats) is reused across the activation rows.
constexpr std::size_t gemm_tile_rows = 64;

/// Rows of an int_gemm_rows tile: their codes (≤ 48 KiB at 4096 columns, k = 12) stay in L1/L2 while every activation
/// row runs over them.
constexpr std::size_t int_gemm_tile_rows = 16;

/// Bytes of the header that starts a quantized activation (its blocks follow).
constexpr std::size_t int_activation_header_bytes = 64;

/// Bytes of one quantized activation row of `pairs` pairs (either integer path): the header and the blocks, a
/// multiple of 64.
constexpr std::size_t int_activation_bytes(std::size_t pairs) {
    const std::size_t a = q8a_blocks(pairs) * sizeof(block_q8a), b = q16a_blocks(pairs) * sizeof(block_q16a);
    return int_activation_header_bytes + ((a > b ? a : b) + 63) / 64 * 64;
}

/// Everything the row-range operations need about one tensor, computed once.
class prepared_tensor {
public:
    /// Validates `v` (errc::format naming the field) and precomputes; copies no codes but the last rows' few bytes.
    /// table: the decode table of the pair quantizer that wrote the codes (nullptr: the shipped table of v.family and v.bits);
    /// it must outlive the prepared tensor. integer: also build the integer codebook of the integer path
    /// (int_dot_rows, int_gemm_rows; 18 KiB; for the shipped d8 tables on their grid, so the split q16 kernels apply).
    explicit prepared_tensor(const quantized_view& v, const float* table = nullptr, bool integer = false)
        : v_(validated(v)), table_(table ? table : codebook_table(v.family, v.bits)), signs_(hadamard_signs(v.seed, v.layout.padded)),
          unit_(std::sqrt(double(v.layout.padded) * double(v.layout.block))) {
        if (integer) {
            icb_.resize(1);
            const bool d8 = v.family == codebook_family::d8 && table_ == d8_table(v.bits);
            make_int_codebook(table_, v.bits, icb_[0], d8 ? d8_grid(v.bits) : 0.0f);
        }
        norms_.resize(static_cast<std::size_t>(v.rows));
        for (std::size_t i = 0; i < norms_.size(); ++i) norms_[i] = v.norm(i);
        if (v.scales) {
            scales_.resize(static_cast<std::size_t>(v.cols()));
            for (std::size_t j = 0; j < scales_.size(); ++j) scales_[j] = detail::f16_to_f32(detail::load_u16(v.scales, j));
        }
        const std::size_t rb = v.row_bytes(), rows = static_cast<std::size_t>(v.rows);
        const std::size_t tail_rows = std::min(rows, (kernels::overread + rb - 1) / std::max<std::size_t>(rb, 1));
        first_tail_ = rows - tail_rows;
        tail_.assign(v.codes ? v.codes + first_tail_ * rb : nullptr, v.codes ? v.codes + rows * rb : nullptr);
        tail_.resize(tail_rows * rb + kernels::overread, 0);
    }

    const quantized_view& view() const { return v_; }
    std::int64_t rows() const { return v_.rows; }
    std::int64_t cols() const { return v_.cols(); }
    std::size_t padded() const { return static_cast<std::size_t>(v_.layout.padded); }
    std::size_t block() const { return static_cast<std::size_t>(v_.layout.block); }
    int bits() const { return v_.bits; }
    std::size_t pairs() const { return v_.pairs(); }
    const float* table() const { return table_; }          ///< the decode table: codeword i = table[2i], table[2i+1]
    const float* signs() const { return signs_.data(); }   ///< D as ±1, padded() of them
    float norm(std::size_t i) const { return norms_[i]; }  ///< r̂_i
    const float* scales() const { return scales_.empty() ? nullptr : scales_.data(); }  ///< s_j, or nullptr
    double unit() const { return unit_; }                  ///< √(n_pad·B)

    /// Row i's codes followed by kernels::overread readable bytes.
    const std::uint8_t* row_codes(std::size_t i) const {
        const std::size_t rb = v_.row_bytes();
        return i < first_tail_ ? v_.codes + i * rb : tail_.data() + (i - first_tail_) * rb;
    }

    /// Rows [i, contiguous_end(i, r1)) (i < r1 ≤ rows) have their codes at row_codes(i) + (r − i)·row_bytes.
    std::size_t contiguous_end(std::size_t i, std::size_t r1) const { return i < first_tail_ ? std::min(r1, first_tail_) : r1; }

    /// Scratch floats decode_rows needs; gemm_rows needs gemm_scratch_floats().
    std::size_t decode_scratch_floats() const { return padded(); }
    std::size_t gemm_scratch_floats() const { return gemm_tile_rows * padded(); }

    /// Whether the integer path was built (constructed with integer = true).
    bool has_integer() const { return !icb_.empty(); }
    /// The integer codebook; throws errc::invalid_argument unless has_integer().
    const int_codebook& int_table() const {
        if (icb_.empty())
            throw error(errc::invalid_argument, "prepared_tensor: the integer path was not built (construct it with "
                                                "integer = true)");
        return icb_[0];
    }
    /// Bytes of the tensor's codes in the split layout (split_codes: rows of split_row_bytes), for use_split_codes.
    std::size_t split_codes_bytes() const { return static_cast<std::size_t>(rows()) * split_row_bytes(pairs(), bits()); }
    /// Writes the codes in the split layout into dst (split_codes_bytes() bytes of caller memory, which must outlive
    /// this object; the rows are split on the executor's threads) and has the integer path read them there: kernel sets
    /// with the split q16 kernel (int_uses_q16s) then run the tensor on it. Once per tensor, at load, before any
    /// product: like a repacked weight buffer it is a second copy of the codes, the price of a code layout the packed
    /// format does not have. Only for a d8 codebook on its grid at k = 9…11 with the integer path built
    /// (errc::invalid_argument otherwise).
    template <class Exec = serial>
    void use_split_codes(std::uint8_t* dst, const Exec& exec = {}) {
        if (icb_.empty() || !icb_[0].d8 || bits() < 9 || bits() > 11)
            throw error(errc::invalid_argument, "prepared_tensor::use_split_codes: only for a d8 codebook on its grid at "
                                                "k = 9…11 with the integer path built, not k = " + std::to_string(bits()));
        const std::size_t srb = split_row_bytes(pairs(), bits());
        exec(static_cast<std::size_t>(rows()), [&](std::size_t r0, std::size_t r1) {
            for (std::size_t r = r0; r < r1; ++r) split_codes(row_codes(r), pairs(), bits(), dst + r * srb);
        });
        split_ = dst;
    }
    /// The split layout's codes (use_split_codes), or nullptr.
    const std::uint8_t* split() const { return split_; }
    /// Scratch bytes of one quantized activation row (quantize_activation); with split codes (use_split_codes: call it
    /// first) also room for the q16 blocks the batched products read.
    std::size_t int_activation_bytes() const {
        return qamw::int_activation_bytes(pairs()) + (split_ ? q16a_blocks(pairs()) * sizeof(block_q16a) : 0);
    }
    /// Scratch words (int32) int_gemm_rows needs: a tile of looked-up q16 table entries, and 16 words to align it to
    /// 64 bytes.
    std::size_t int_gemm_scratch_words() const { return int_gemm_tile_rows * pairs() + 16; }

    /// Throws errc::invalid_argument unless 0 ≤ r0 ≤ r1 ≤ rows.
    void check_rows(std::int64_t r0, std::int64_t r1) const {
        if (r0 < 0 || r0 > r1 || r1 > v_.rows)
            throw error(errc::invalid_argument, "row range [" + std::to_string(r0) + ", " + std::to_string(r1) +
                                                    ") is not inside [0, " + std::to_string(v_.rows) + ")");
    }

private:
    static const quantized_view& validated(const quantized_view& v) {
        validate(v);
        return v;
    }

    quantized_view v_;
    const float* table_;
    std::vector<float> signs_, norms_, scales_;
    double unit_;
    std::size_t first_tail_ = 0;
    std::vector<std::uint8_t> tail_;
    std::vector<int_codebook> icb_;  ///< the integer codebook, or empty
    const std::uint8_t* split_ = nullptr;  ///< the codes in the split layout (use_split_codes), or nullptr
};

/// xt[0, n_pad) ← x̃ for x[0, cols) (the activation as the products read it).
template <class K = native_kernels>
void rotate(const prepared_tensor& t, const float* x, float* xt, const K& k = {}) {
    const std::size_t n = static_cast<std::size_t>(t.cols()), np = t.padded();
    std::copy(x, x + n, xt);
    std::fill(xt + n, xt + np, 0.0f);
    if (t.scales()) unscale_columns(xt, t.scales(), n);
    k.fwht_forward(xt, t.signs(), np, t.block(), static_cast<float>(1.0 / t.unit()));
}

/// y[i − r0] = (Ŵ x)_i for rows i in [r0, r1), from xt = rotate(x).
template <class K = native_kernels>
void dot_rows(const prepared_tensor& t, const float* xt, std::int64_t r0, std::int64_t r1, float* y, const K& k = {}) {
    t.check_rows(r0, r1);
    for (std::int64_t i = r0; i < r1; ++i) {
        const std::size_t r = static_cast<std::size_t>(i);
        y[i - r0] = t.norm(r) * k.dot_row(t.row_codes(r), t.pairs(), t.bits(), t.table(), xt);
    }
}

/// out[(i − r0)·cols + j] = ŵ_ij for rows i in [r0, r1); scratch: decode_scratch_floats() floats.
template <class K = native_kernels>
void decode_rows(const prepared_tensor& t, std::int64_t r0, std::int64_t r1, float* out, float* scratch,
                 const K& k = {}) {
    t.check_rows(r0, r1);
    const std::size_t n = static_cast<std::size_t>(t.cols()), np = t.padded();
    for (std::int64_t i = r0; i < r1; ++i) {
        float* dst = out + static_cast<std::size_t>(i - r0) * n;
        const float rhat = t.norm(static_cast<std::size_t>(i));
        if (rhat == 0) {
            std::fill(dst, dst + n, 0.0f);
            continue;
        }
        k.lookup_row(t.row_codes(static_cast<std::size_t>(i)), t.pairs(), t.bits(), t.table(), scratch);
        k.fwht_inverse(scratch, t.signs(), np, t.block(), static_cast<float>(double(rhat) / t.unit()));
        std::copy(scratch, scratch + n, dst);
        if (t.scales()) unscale_columns(dst, t.scales(), n);
    }
}

/// y[b·ldy + (i − r0)] = (Ŵ x_b)_i for rows i in [r0, r1) and m activations, xt[b·n_pad, (b + 1)·n_pad) = rotate(x_b);
/// scratch: gemm_scratch_floats() floats.
template <class K = native_kernels>
void gemm_rows(const prepared_tensor& t, const float* xt, std::size_t m, std::int64_t r0, std::int64_t r1, float* y,
               std::size_t ldy, float* scratch, const K& k = {}) {
    t.check_rows(r0, r1);
    constexpr std::size_t batch_chunk = 64;
    const std::size_t np = t.padded();
    for (std::size_t i0 = static_cast<std::size_t>(r0); i0 < static_cast<std::size_t>(r1); i0 += gemm_tile_rows) {
        const std::size_t n_rows = std::min(gemm_tile_rows, static_cast<std::size_t>(r1) - i0);
        float* yt = y + (i0 - static_cast<std::size_t>(r0));
        for (std::size_t r = 0; r < n_rows; ++r)
            k.lookup_row(t.row_codes(i0 + r), t.pairs(), t.bits(), t.table(), scratch + r * np);
        for (std::size_t b = 0; b < m; b += batch_chunk)
            k.dot_tile(scratch, np, n_rows, xt + b * np, np, std::min(batch_chunk, m - b), np, yt + b * ldy, ldy);
        for (std::size_t b = 0; b < m; ++b)
            for (std::size_t r = 0; r < n_rows; ++r) yt[b * ldy + r] *= t.norm(i0 + r);
    }
}

namespace detail {

/// The header at the start of a quantized activation.
struct int_activation_header {
    std::uint64_t pairs;  ///< the pairs of the tensor it was quantized for
    std::uint32_t path;   ///< int_path_q8, int_path_q16 or int_path_q16s
    float bias;           ///< q8: quantize_q8a's bias; q16: 0
};
static_assert(sizeof(int_activation_header) <= int_activation_header_bytes, "the header fits its bytes");
inline constexpr std::uint32_t int_path_q8 = 0x61387131, int_path_q16 = 0x36317131, int_path_q16s = 0x73363171;

/// The integer path of tensor t on kernel set k: q8 (int_uses_q8), the split q16 of d8 codebooks (int_uses_q16s, the
/// codes in the split layout) or q16.
template <class K>
std::uint32_t int_path(const prepared_tensor& t, const K& k) {
    if (int_uses_q8(k, t.bits())) return int_path_q8;
    return t.split() && int_uses_q16s(k, t.int_table()) ? int_path_q16s : int_path_q16;
}

inline const char* int_path_name(std::uint32_t path) {
    return path == int_path_q8 ? "q8" : path == int_path_q16s ? "split q16" : "q16";
}

inline void check_activation_alignment(const void* act) {
    if (reinterpret_cast<std::uintptr_t>(act) % alignof(int_activation_header) != 0)
        throw error(errc::invalid_argument, "integer path: the activation scratch must be aligned to 8 bytes");
}

/// The header of the quantized activation `act`, checked against the tensor and the path of its kernel set.
inline const int_activation_header& checked_activation(const prepared_tensor& t, const void* act, std::uint32_t path) {
    check_activation_alignment(act);
    const auto& h = *static_cast<const int_activation_header*>(act);
    if (h.path != path || h.pairs != t.pairs())
        throw error(errc::invalid_argument,
                    std::string("integer path: the quantized activation was not made by quantize_activation for this "
                                "tensor's ") + std::to_string(t.pairs()) + " pairs on the " + int_path_name(path) +
                        " path of this kernel set");
    return h;
}

/// The q16 blocks that follow the split ones in a quantized activation of the split q16 path (the batched products'
/// operand: quantize_activation writes both).
template <class Blocks>
auto q16_of_split(Blocks* blocks, std::size_t pairs) {
    using byte = std::conditional_t<std::is_const_v<Blocks>, const unsigned char, unsigned char>;
    using q16 = std::conditional_t<std::is_const_v<Blocks>, const block_q16a, block_q16a>;
    return reinterpret_cast<q16*>(reinterpret_cast<byte*>(blocks) + q16a_blocks(pairs) * sizeof(block_q16s));
}

/// y[i − i0] *= r̂_i for rows [i0, i1).
inline void scale_by_norms(const prepared_tensor& t, std::size_t i0, std::size_t i1, float* y) {
    for (std::size_t i = i0; i < i1; ++i) y[i - i0] *= t.norm(i);
}

/// y[i − i0] = r̂_i · ⟨ĉ_i, x̃⟩ on the integer path for rows [i0, i1), one kernel call per contiguous run of rows.
template <class K>
void int_rows(const prepared_tensor& t, const int_codebook& cb, const void* act, std::uint32_t path, std::size_t i0,
              std::size_t i1, float* y, const K& k) {
    const auto& h = *static_cast<const int_activation_header*>(act);
    const void* blocks = static_cast<const unsigned char*>(act) + int_activation_header_bytes;
    const std::size_t rb = t.view().row_bytes();
    if (path == int_path_q16s) {  // the split layout: every row in caller memory, none past it read
        const std::size_t srb = split_row_bytes(t.pairs(), t.bits());
        k.dot_rows_q16s(t.split() + i0 * srb, srb, i1 - i0, t.pairs(), t.bits(), cb, static_cast<const block_q16s*>(blocks), y);
        return scale_by_norms(t, i0, i1, y);
    }
    for (std::size_t i = i0; i < i1;) {
        const std::size_t e = t.contiguous_end(i, i1);
        if (path == int_path_q8)
            k.dot_rows_q8(t.row_codes(i), rb, e - i, t.pairs(), t.bits(), cb, static_cast<const block_q8a*>(blocks),
                          h.bias, y + (i - i0));
        else
            k.dot_rows_q16(t.row_codes(i), rb, e - i, t.pairs(), t.bits(), cb, static_cast<const block_q16a*>(blocks),
                           y + (i - i0));
        i = e;
    }
    scale_by_norms(t, i0, i1, y);
}

}  // namespace detail

/// act[0, t.int_activation_bytes()) ← x̃ quantized for the integer path of (t, k) by k.quantize_q8a or k.quantize_q16a
/// (the same bytes on every kernel set), from xt = rotate(x) (finite: a NaN or Inf is errc::non_finite naming the first).
/// act: caller scratch, 8-byte aligned. Throws unless t.has_integer().
template <class K = native_kernels>
void quantize_activation(const prepared_tensor& t, const float* xt, void* act, const K& k = {}) {
    t.int_table();
    detail::check_activation_alignment(act);
    void* blocks = static_cast<unsigned char*>(act) + int_activation_header_bytes;
    const std::uint32_t path = detail::int_path(t, k);
    float bias = 0;
    if (path == detail::int_path_q8) bias = k.quantize_q8a(xt, t.pairs(), static_cast<block_q8a*>(blocks));
    else if (path == detail::int_path_q16s)  // the split blocks for the row kernel, the q16 ones for int_gemm_rows
        k.quantize_q16s(xt, t.pairs(), static_cast<block_q16s*>(blocks), detail::q16_of_split(blocks, t.pairs()));
    else k.quantize_q16a(xt, t.pairs(), static_cast<block_q16a*>(blocks));
    new (act) detail::int_activation_header{t.pairs(), path, bias};
}

/// The integer path of t on kernel set k, as quantize_activation and int_dot_rows take it: "q8", "q16" or "split q16".
template <class K = native_kernels>
const char* int_path_of(const prepared_tensor& t, const K& k = {}) {
    return detail::int_path_name(detail::int_path(t, k));
}

/// y[i − r0] ≈ (Ŵ x)_i for rows i in [r0, r1) on the integer path, from act = quantize_activation(rotate(x)) with the
/// same kernel set.
template <class K = native_kernels>
void int_dot_rows(const prepared_tensor& t, const void* act, std::int64_t r0, std::int64_t r1, float* y,
                  const K& k = {}) {
    t.check_rows(r0, r1);
    const int_codebook& cb = t.int_table();
    const std::uint32_t path = detail::int_path(t, k);
    detail::checked_activation(t, act, path);
    detail::int_rows(t, cb, act, path, static_cast<std::size_t>(r0), static_cast<std::size_t>(r1), y, k);
}

/// y[b·ldy + (i − r0)] ≈ (Ŵ x_b)_i for rows i in [r0, r1) and m quantized activations, the b-th at
/// acts + b·t.int_activation_bytes() (quantize_activation with the same kernel set); scratch: int_gemm_scratch_words()
/// int32. Tiled: each tile of int_gemm_tile_rows rows' codes is read from memory once and reused for all m activations
/// (q16 and split q16: its table entries looked up once into scratch, then the kernel set's register-blocked
/// dot_words_q16 over all m). Every y equals int_dot_rows' bit for bit.
template <class K = native_kernels>
void int_gemm_rows(const prepared_tensor& t, const void* acts, std::size_t m, std::int64_t r0, std::int64_t r1,
                   float* y, std::size_t ldy, std::int32_t* scratch, const K& k = {}) {
    t.check_rows(r0, r1);
    const int_codebook& cb = t.int_table();
    const std::uint32_t path = detail::int_path(t, k);
    const std::size_t ab = t.int_activation_bytes(), pairs = t.pairs();
    const auto* a = static_cast<const unsigned char*>(acts);
    for (std::size_t b = 0; b < m; ++b) detail::checked_activation(t, a + b * ab, path);
    const std::size_t first = static_cast<std::size_t>(r0), last = static_cast<std::size_t>(r1);
    // the tile's words at a 64-byte boundary (rows are 4·pairs bytes apart, a multiple of 64): the micro-kernel's
    // vector loads then never split a cache line
    std::int32_t* const words = scratch + (64 - reinterpret_cast<std::uintptr_t>(scratch) % 64) % 64 / sizeof(std::int32_t);
    for (std::size_t i0 = first; i0 < last; i0 += int_gemm_tile_rows) {
        const std::size_t i1 = std::min(last, i0 + int_gemm_tile_rows);
        if (path == detail::int_path_q8 || m == 1) {
            for (std::size_t b = 0; b < m; ++b) detail::int_rows(t, cb, a + b * ab, path, i0, i1, y + b * ldy + (i0 - first), k);
            continue;
        }
        // q16, and split q16 from the q16 blocks its activations also hold: the same bits (q16s ≡ q16)
        const unsigned char* blocks = a + int_activation_header_bytes;
        const auto* a16 = path == detail::int_path_q16 ? reinterpret_cast<const block_q16a*>(blocks) : detail::q16_of_split(blocks, pairs);
        for (std::size_t i = i0; i < i1; ++i) k.lookup_q16(t.row_codes(i), pairs, t.bits(), cb, words + (i - i0) * pairs);
        k.dot_words_q16(words, pairs, i1 - i0, pairs, cb, a16, ab, m, y + (i0 - first), ldy);
        for (std::size_t b = 0; b < m; ++b) detail::scale_by_norms(t, i0, i1, y + b * ldy + (i0 - first));
    }
}

}  // namespace qamw
