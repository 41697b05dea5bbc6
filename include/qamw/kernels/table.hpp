// qamw/kernels/table.hpp — the hot-loop kernels of one instruction set, in two interchangeable forms.
//
//   simd_kernels<Arch>  static member functions over one xsimd architecture tag: an engine names the tag it compiles
//                       for (e.g. xsimd::avx2, or xsimd::default_arch) and every call inlines into its own loops.
//   ref_kernels         the same functions on the scalar references (qamw::ref), always available.
//   kernel_table        the same functions as plain function pointers, for runtime dispatch (qamw/dispatch.hpp).
// The drivers (qamw/codec.hpp, qamw/engine.hpp) are templates over a kernel set K and call k.fwht_forward(...),
// k.dot_row(...), ... — the same source for all three forms. Only templates on Arch live in kernel headers, so no
// ISA-specific copy of a shared inline function can leak into baseline code.
#pragma once

#include <qamw/kernels/arch.hpp>
#include <qamw/kernels/fwht.hpp>
#include <qamw/kernels/int_product.hpp>
#include <qamw/kernels/isa.hpp>
#include <qamw/kernels/product.hpp>
#include <qamw/kernels/reference.hpp>
#include <qamw/stages/fwht.hpp>

#include <type_traits>

namespace qamw {

/// The instruction-set name qamw reports for an xsimd architecture tag.
template <class Arch>
constexpr isa isa_of() {
    if constexpr (std::is_base_of_v<avx512_vnni_gather, Arch>) return isa::avx512vnni_gather;
    else if constexpr (std::is_base_of_v<avx512_vnni, Arch>) return isa::avx512vnni;
    else if constexpr (std::is_base_of_v<xsimd::avx512bw, Arch>) return isa::avx512;
    else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) return isa::avx2;
    else if constexpr (std::is_base_of_v<xsimd::avx, Arch>) return isa::avx;
    else if constexpr (std::is_base_of_v<xsimd::sse2, Arch>) return isa::sse2;
    else if constexpr (std::is_base_of_v<neon_dotprod, Arch>) return isa::neondot;
    else if constexpr (std::is_base_of_v<xsimd::neon, Arch>) return isa::neon;
    else return isa::scalar;
}

/// The xsimd architecture the float kernels of Arch run on: Arch itself, except qamw::neon_dotprod, whose float kernels
/// are neon64's (xsimd's NEON kernels are not written for derived tags, as its AVX-512 ones are). The dispatch library
/// thus instantiates them in both NEON translation units, under different -march; scripts/arm.sh checks that every
/// function the two share compiles to the same instructions.
template <class Arch>
using float_arch = std::conditional_t<std::is_base_of_v<neon_dotprod, Arch>, xsimd::neon64, Arch>;

/// The kernels of one xsimd architecture, as inlinable static functions (signatures: see kernel_table).
template <class Arch>
struct simd_kernels {
    static constexpr isa id = isa_of<Arch>();
    using F = float_arch<Arch>;
    static void fwht_forward(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        kernels::fwht<F>::forward(x, signs, n, block, gain);
    }
    static void fwht_inverse(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        kernels::fwht<F>::inverse(x, signs, n, block, gain);
    }
    static void lookup_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out) {
        kernels::product<F>::lookup_row(codes, pairs, k, table2, out);
    }
    static float dot_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt) {
        return kernels::product<F>::dot_row(codes, pairs, k, table2, xt);
    }
    static void dot_tile(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                         std::size_t nb, std::size_t n, float* y, std::size_t ldy) {
        kernels::product<F>::dot_tile(q, ldq, rows, x, ldx, nb, n, y, ldy);
    }
    static float quantize_q8a(const float* xt, std::size_t pairs, block_q8a* out) {
        return kernels::int_product<Arch>::quantize_q8a(xt, pairs, out);
    }
    static void quantize_q16a(const float* xt, std::size_t pairs, block_q16a* out) {
        kernels::int_product<Arch>::quantize_q16a(xt, pairs, out);
    }
    static constexpr int q8_max_bits = kernels::int_product<Arch>::q8_max_bits;
    static void dot_rows_q8(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                            const int_codebook& cb, const block_q8a* a, float bias, float* y) {
        kernels::int_product<Arch>::dot_rows_q8(codes, stride, rows, pairs, k, cb, a, bias, y);
    }
    static void dot_rows_q16(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                             const int_codebook& cb, const block_q16a* a, float* y) {
        kernels::int_product<Arch>::dot_rows_q16(codes, stride, rows, pairs, k, cb, a, y);
    }
    static void quantize_q16s(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16) {
        kernels::int_product<Arch>::quantize_q16s(xt, pairs, out, q16);
    }
    static constexpr bool has_q16s = kernels::int_product<Arch>::has_q16s;
    static void dot_rows_q16s(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                              const int_codebook& cb, const block_q16s* a, float* y) {
        kernels::int_product<Arch>::dot_rows_q16s(codes, stride, rows, pairs, k, cb, a, y);
    }
    static void lookup_q16(const std::uint8_t* codes, std::size_t pairs, int k, const int_codebook& cb, std::int32_t* out) {
        kernels::int_product<Arch>::lookup_q16(codes, pairs, k, cb, out);
    }
    static void dot_words_q16(const std::int32_t* words, std::size_t ldw, std::size_t rows, std::size_t pairs,
                              const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                              std::size_t ldy) {
        kernels::int_product<Arch>::dot_words_q16(words, ldw, rows, pairs, cb, a, a_stride, m, y, ldy);
    }
};

/// The kernels of the architecture this translation unit is compiled for (xsimd::default_arch: what -march enables).
/// The codec's and engine's default kernel set; a different -march gives a different type, never an ODR clash.
using native_kernels = simd_kernels<xsimd::default_arch>;

/// The scalar reference kernels (qamw::ref), as static functions.
struct ref_kernels {
    static constexpr isa id = isa::scalar;
    static void fwht_forward(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        ref::fwht_forward(x, signs, n, block, gain);
    }
    static void fwht_inverse(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        ref::fwht_inverse(x, signs, n, block, gain);
    }
    static void lookup_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out) {
        ref::lookup_row(codes, pairs, k, table2, out);
    }
    static float dot_row(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt) {
        return ref::dot_row(codes, pairs, k, table2, xt);
    }
    static void dot_tile(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                         std::size_t nb, std::size_t n, float* y, std::size_t ldy) {
        ref::dot_tile(q, ldq, rows, x, ldx, nb, n, y, ldy);
    }
    static float quantize_q8a(const float* xt, std::size_t pairs, block_q8a* out) { return qamw::quantize_q8a(xt, pairs, out); }
    static void quantize_q16a(const float* xt, std::size_t pairs, block_q16a* out) { qamw::quantize_q16a(xt, pairs, out); }
    static constexpr int q8_max_bits = 8;
    static void dot_rows_q8(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                            const int_codebook& cb, const block_q8a* a, float bias, float* y) {
        ref::dot_rows_q8(codes, stride, rows, pairs, k, cb, a, bias, y);
    }
    static void dot_rows_q16(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                             const int_codebook& cb, const block_q16a* a, float* y) {
        ref::dot_rows_q16(codes, stride, rows, pairs, k, cb, a, y);
    }
    static void quantize_q16s(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16) {
        qamw::quantize_q16s(xt, pairs, out, q16);
    }
    static constexpr bool has_q16s = false;  // the reference of dot_rows_q16s is dot_rows_q16 on the joined activation
    static void dot_rows_q16s(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                              const int_codebook& cb, const block_q16s* a, float* y) {
        ref::dot_rows_q16s(codes, stride, rows, pairs, k, cb, a, y);
    }
    static void lookup_q16(const std::uint8_t* codes, std::size_t pairs, int k, const int_codebook& cb, std::int32_t* out) {
        ref::lookup_q16(codes, pairs, k, cb, out);
    }
    static void dot_words_q16(const std::int32_t* words, std::size_t ldw, std::size_t rows, std::size_t pairs,
                              const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                              std::size_t ldy) {
        ref::dot_words_q16(words, ldw, rows, pairs, cb, a, a_stride, m, y, ldy);
    }
};

/// A kernel set as function pointers (what runtime dispatch hands out).
struct kernel_table {
    isa id;
    /// x[0, n) ← gain · H(signs ⊙ x) per block of `block` floats (stages/fwht.hpp).
    void (*fwht_forward)(float* x, const float* signs, std::size_t n, std::size_t block, float gain);
    /// x[0, n) ← signs ⊙ (gain · H x) per block.
    void (*fwht_inverse)(float* x, const float* signs, std::size_t n, std::size_t block, float gain);
    /// out[0, 2·pairs) ← codeword coordinates of a row of packed k-bit codes (reads ≤ kernels::overread bytes past the codes).
    void (*lookup_row)(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, float* out);
    /// Σ over the row's pairs of ⟨codeword, (xt[2p], xt[2p+1])⟩ (reads ≤ kernels::overread bytes past the codes).
    float (*dot_row)(const std::uint8_t* codes, std::size_t pairs, int k, const float* table2, const float* xt);
    /// y[b·ldy + i] = Σ_{j<n} q[i·ldq + j] · x[b·ldx + j] for i < rows, b < nb.
    void (*dot_tile)(const float* q, std::size_t ldq, std::size_t rows, const float* x, std::size_t ldx,
                     std::size_t nb, std::size_t n, float* y, std::size_t ldy);
    /// Integer path: the rotated activation xt[0, 2·pairs) (pairs % 16 == 0) quantized into q8a_blocks(pairs) q8 blocks;
    /// returns the bias. The bytes and bias of the scalar reference quantize_q8a (kernels/int_format.hpp) on every ISA;
    /// a NaN or Inf is its errc::non_finite naming the first. SIMD on AVX2, AVX-512 and NEON (kernels/int_quantize.hpp).
    float (*quantize_q8a)(const float* xt, std::size_t pairs, block_q8a* out);
    /// The same into q16a_blocks(pairs) q16 blocks (the reference: quantize_q16a).
    void (*quantize_q16a)(const float* xt, std::size_t pairs, block_q16a* out);
    /// Integer path, k ≤ 8 (kernels/int_product.hpp): y[r] ≈ ⟨ĉ_r, x̃⟩ for rows at codes + r·stride against the q8
    /// activation; nullptr where this ISA has no SIMD version (callers then use dot_rows_q16).
    void (*dot_rows_q8)(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                        const int_codebook& cb, const block_q8a* a, float bias, float* y);
    /// The largest k the set runs on the q8 path (int_uses_q8; 0 where dot_rows_q8 is nullptr).
    int q8_max_bits;
    /// Integer path, any k: the same against the q16 activation (reads ≤ kernels::overread bytes past the codes).
    void (*dot_rows_q16)(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                         const int_codebook& cb, const block_q16a* a, float* y);
    /// The same into q16a_blocks(pairs) split blocks (block_q16s; the reference: quantize_q16s), and into q16a blocks
    /// too where q16 is not null; nullptr where dot_rows_q16s is.
    void (*quantize_q16s)(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16);
    /// Integer path, d8 codebooks (int_codebook::d8) at k = 9…11: dot_rows_q16's bits from the codes in the split
    /// layout (split_codes) against the split activation, the base in registers (reads no byte past the codes);
    /// nullptr where this ISA has no SIMD version (int_uses_q16s).
    void (*dot_rows_q16s)(const std::uint8_t* codes, std::size_t stride, std::size_t rows, std::size_t pairs, int k,
                          const int_codebook& cb, const block_q16s* a, float* y);
    /// Integer path, batched products: out[p] ← the 32-bit q16 table entry of code p (reads ≤ kernels::overread bytes
    /// past the codes).
    void (*lookup_q16)(const std::uint8_t* codes, std::size_t pairs, int k, const int_codebook& cb, std::int32_t* out);
    /// dot_rows_q16 from the words lookup_q16 wrote (rows ldw words apart) against m activations (a_stride bytes
    /// apart; y[j·ldy + r]), the same bits as dot_rows_q16 (the GEMM micro-kernel).
    void (*dot_words_q16)(const std::int32_t* words, std::size_t ldw, std::size_t rows, std::size_t pairs,
                          const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                          std::size_t ldy);
};

/// Whether the kernel set runs k-bit codes on the integer q8 path (int8 codewords and activations; else q16): k ≤ the
/// set's q8_max_bits (simd_kernels<Arch>, ref_kernels: 8; a kernel_table's field, with a non-null dot_rows_q8).
template <class K>
constexpr bool int_uses_q8(const K&, int k) {
    return k <= K::q8_max_bits;
}
inline bool int_uses_q8(const kernel_table& t, int k) { return k <= t.q8_max_bits && t.dot_rows_q8 != nullptr; }

/// Whether the kernel set can run a tensor on the split q16 path (dot_rows_q16s): its codebook is d8
/// (int_codebook::d8), k is 9…11 and the set has the SIMD kernel (simd_kernels<Arch>::has_q16s; a kernel_table's
/// non-null dot_rows_q16s). The engine runs it there once the tensor's codes are in the split layout
/// (prepared_tensor::use_split_codes).
template <class K>
constexpr bool int_uses_q16s(const K&, const int_codebook& cb) {
    return K::has_q16s && cb.d8 && cb.k >= 9 && cb.k <= 11;
}
inline bool int_uses_q16s(const kernel_table& t, const int_codebook& cb) {
    return t.dot_rows_q16s != nullptr && cb.d8 && cb.k >= 9 && cb.k <= 11;
}

/// The function-pointer form of a static kernel set K (simd_kernels<Arch> or ref_kernels).
template <class K>
constexpr kernel_table make_kernel_table() {
    return kernel_table{K::id,           &K::fwht_forward, &K::fwht_inverse,
                        &K::lookup_row,  &K::dot_row,      &K::dot_tile,
                        &K::quantize_q8a, &K::quantize_q16a,
                        K::q8_max_bits > 0 ? &K::dot_rows_q8 : nullptr, K::q8_max_bits, &K::dot_rows_q16,
                        K::has_q16s ? &K::quantize_q16s : nullptr, K::has_q16s ? &K::dot_rows_q16s : nullptr,
                        &K::lookup_q16,  &K::dot_words_q16};
}

}  // namespace qamw
