// qamw/kernels/lookup.hpp — packed codes → codeword coordinates, the step every decode and product kernel starts with.
//
// Unit of work: a group of 8 pairs, which occupies exactly k bytes of a row (8·k bits) and yields 16 floats
// (x0, y0, x1, y1, …, x7, y7) from the interleaved codebook table (table2[2i], table2[2i+1] = codeword i). Pair l of a
// group starts at bit l·k. Kernels are instantiated per k (with_bits), so every shift and mask is a constant: the
// indices of pairs 0–3 come from the little-endian 64-bit word at the group's byte 0, those of pairs 4–7 from the word
// at byte ⌊k/2⌋ (shifted right by 4 when k is odd), one shift and one mask each in general-purpose registers. The
// second word ends ⌊k/2⌋ + 8 − k ≤ 6 bytes past the group, so callers pass codes followed by `overread` readable
// bytes (detail::readable_codes).
//
// Codeword pairs are then loaded as 64-bit scalars. On x86 (the only intrinsics in qamw): two per 128-bit register
// (movq + movhps), and with AVX2 / AVX-512 two of those per 256-bit batch; the AVX-512 kernels also work on 256-bit
// batches, since assembling 512-bit registers costs an extra shuffle per 8 pairs for no gain in FMA throughput.
// On Zen 5 this beats both hardware gathers and SIMD index extraction followed by reloads of the indices
// (docs/PERFORMANCE.md). Other targets (NEON) go through a 16-float buffer.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace qamw::kernels {

/// Bytes a lookup kernel may read past the last group's codes (it reads at most 6).
inline constexpr std::size_t overread = 8;

/// Calls f(std::integral_constant<int, K>{}) for the runtime code width k ∈ [4, 12] (callers have validated k).
template <class F>
decltype(auto) with_bits(int k, F&& f) {
    switch (k) {
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        case 8: return f(std::integral_constant<int, 8>{});
        case 9: return f(std::integral_constant<int, 9>{});
        case 10: return f(std::integral_constant<int, 10>{});
        case 11: return f(std::integral_constant<int, 11>{});
        default: return f(std::integral_constant<int, 12>{});
    }
}

/// The 8 code indices of one group of K-bit codes.
template <int K>
struct group_indices {
    std::uint64_t lo, hi;  ///< pair l < 4 at bit l·K of lo; pair l ≥ 4 at bit (l − 4)·K of hi
    explicit group_indices(const std::uint8_t* group) {
        std::memcpy(&lo, group, 8);  // little-endian hosts only (all qamw targets)
        std::memcpy(&hi, group + K / 2, 8);
        if constexpr (K % 2 != 0) hi >>= 4;
    }
    template <int L>
    std::size_t get() const {
        constexpr std::uint64_t mask = (std::uint64_t{1} << K) - 1;
        return static_cast<std::size_t>(((L < 4 ? lo : hi) >> ((L % 4) * K)) & mask);
    }
};

/// Whether Arch is an x86 instruction set (SSE2 and up, AVX, AVX-512). Decided by the architecture tag alone, never
/// by the compiler's -m flags, so every instantiation compiles the same way in every translation unit.
template <class Arch>
inline constexpr bool is_x86 = std::is_base_of_v<xsimd::sse2, Arch> || std::is_base_of_v<xsimd::avx, Arch> ||
                               std::is_base_of_v<xsimd::avx512f, Arch>;

template <class Arch>
struct lookup {
    /// AVX-512 (in xsimd 8, avx512f does not derive from avx2) works on 256-bit AVX2 batches with FMA (every AVX-512
    /// CPU has both).
    using batch_arch = std::conditional_t<std::is_base_of_v<xsimd::avx512f, Arch>, xsimd::fma3<xsimd::avx2>, Arch>;
    using batch = xsimd::batch<float, batch_arch>;
    static constexpr std::size_t W = batch::size;
    static constexpr std::size_t per_group = 16 / W;  ///< batches per group of 8 pairs
    static_assert(16 % W == 0, "batch width must divide 16 floats");

    /// The 16 floats of the group of K-bit codes starting at `group` into out[0, per_group).
    template <int K>
    static void group(const std::uint8_t* group, const float* table2, batch* out) {
        const group_indices<K> ix(group);
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (is_x86<Arch>) {
            auto two = [&](std::size_t a, std::size_t b) {  // codewords a and b, 64 bits each, in one 128-bit register
                const __m128 lo = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(table2 + 2 * a)));
                return _mm_loadh_pi(lo, reinterpret_cast<const __m64*>(table2 + 2 * b));
            };
            const __m128 q0 = two(ix.template get<0>(), ix.template get<1>()), q1 = two(ix.template get<2>(), ix.template get<3>()),
                         q2 = two(ix.template get<4>(), ix.template get<5>()), q3 = two(ix.template get<6>(), ix.template get<7>());
            if constexpr (W == 4) {
                out[0] = q0, out[1] = q1, out[2] = q2, out[3] = q3;
            } else {  // W == 8: AVX, AVX2, AVX-512
                out[0] = _mm256_insertf128_ps(_mm256_castps128_ps256(q0), q1, 1);
                out[1] = _mm256_insertf128_ps(_mm256_castps128_ps256(q2), q3, 1);
            }
            return;
        }
#endif
        alignas(64) float f[16];
        auto put = [&](int l, std::size_t i) { f[2 * l] = table2[2 * i], f[2 * l + 1] = table2[2 * i + 1]; };
        put(0, ix.template get<0>()), put(1, ix.template get<1>()), put(2, ix.template get<2>()), put(3, ix.template get<3>());
        put(4, ix.template get<4>()), put(5, ix.template get<5>()), put(6, ix.template get<6>()), put(7, ix.template get<7>());
        for (std::size_t b = 0; b < per_group; ++b) out[b] = batch::load_aligned(f + b * W);
    }
};

}  // namespace qamw::kernels
