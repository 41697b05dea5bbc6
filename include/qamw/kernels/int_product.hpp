// qamw/kernels/int_product.hpp — integer-domain fused row products: packed k-bit codes against a quantized
// activation (formats, tables and scalar references in kernels/int_format.hpp).
//
//   int_product<Arch>::dot_rows_q8   (k ≤ 8; SIMD for k ≤ q8_max_bits: AVX-512 VNNI and NEON 8, AVX-512BW 7, AVX2 6;
//   nullptr in the kernel table of SSE2 / AVX. The AVX2 / AVX-512BW kernel: kernels/int_avx2.hpp; NEON:
//   kernels/int_neon.hpp, both with their instruction counts.) The AVX-512 VNNI kernel (here):
//     per 64 pairs (128 weights): one masked load of 8k code bytes; for k < 8 one vpermb (each group's k bytes into a
//     qword) and one vpmultishiftqb (byte j of a qword ← bits [jk, jk + 8)); at k = 8 the code bytes are the indices.
//     The codebook lives in registers as offset-unsigned int8 (ux = cx + 128): k ≤ 7 one vpermi2b per coordinate
//     from a 128-byte periodic table (the index's high junk bits select a copy), k = 8 two vpermi2b + one byte
//     blend on bit 7 per coordinate. Then two vpdpbusd (ux·ax, uy·ay, 4 pairs per int32 lane), one int→float
//     conversion, one FMA with the per-lane block scale. The bias 128·Σ d·a is subtracted once per row.
//     ≈ 9 (k ≤ 7) / 13 (k = 8) instructions per 128 weights (one a software prefetch 4 KiB ahead); reads k/16 bytes
//     of codes per weight, no overread.
//   int_product<Arch>::dot_rows_q16  (any k; SIMD for AVX2 and AVX-512 here, NEON in kernels/int_neon.hpp, scalar
//   reference elsewhere)
//     int16 (x, y) codewords, one 32-bit table entry per code (16 KiB at k = 12), then one multiply-add of int16 pairs
//     (cx·ax + cy·ay per pair) against the interleaved int16 activation, int32 sums over a 64-pair scale block.
//     Default (scalar loads), per 8 pairs: two 64-bit code loads, 8 shift+mask index extractions, 8 32-bit table
//     loads assembled into a ymm (vmovd / vpinsrd / vinserti128); AVX2 / AVX-512BW one vpmaddwd + vpaddd per 8 pairs,
//     AVX-512 VNNI one (256-bit) vpdpwssd; per 64 pairs one convert and one FMA with the block's scale. Reads ≤ 6 bytes past the last group's codes (group_indices; within
//     kernels::overread = 8).
//   int_product<Arch>::dot_rows_q16s  (d8 codebooks at k = 9…11, AVX-512 VBMI + VNNI: x86::q16_d8, the base in
//   registers, the codes in the split layout (split_codes), against the split activation of quantize_q16s; q16's bits;
//   41 instructions per 128 weights at k = 11)
//   int_product<Arch>::quantize_q8a / quantize_q16a / quantize_q16s  (the activation quantizers: the references'
//   block loop with the SIMD element operations of kernels/int_quantize.hpp on AVX2, AVX-512 and NEON, the same bits)
//   int_product<Arch>::lookup_q16 + dot_words_q16  (the batched product's q16 path)
//     lookup_q16 writes a row's 32-bit table entries once (4 bytes per pair); dot_words_q16 then runs the GEMM
//     micro-kernel x86::q16_tile on those words against m activations: tiles of R rows × M activations
//     (AVX-512 VNNI 4 × 4, zmm int32 accumulators; AVX2 / AVX-512BW 2 × 2 in ymm), per vector of pairs R word loads,
//     M activation loads and R·M vpdpwssd (AVX2: vpmaddwd + vpaddd) into int32 accumulators; per 64-pair block and
//     accumulator (zmm: after folding its 16 lanes exactly into 8, vextracti64x4 + vpaddd) one 256-bit convert and
//     FMA into a float accumulator. At 4 × 4, per 64 pairs and (row, activation): 4 vpdpwssd, 2 loads, 2 fold, 1
//     convert, 1 FMA, ≈ 0.08 instructions per weight and activation. Each (row, activation) pair does the float
//     operations of the ymm row kernel in the same order, so the batched product equals dot_rows_q16 bit for bit
//     (tests/test_int_kernels.cpp checks every tile edge on every ISA). The shapes and the fold (against 16-lane
//     float accumulators, which would make the row kernel 512-bit too): measured, docs/PERFORMANCE.md "Integer
//     kernels".
//     Gathers (the avx512vnni_gather kernel set, x86::q16_gather): per 16 pairs a masked code load, vpermb, vpsrlvd,
//     vpand and one vpgatherdd zmm instead of the scalar loads; the same bits. Faster where gathers are fast, slower
//     where they are not, so a kernel set of its own that the dispatcher prefers only where gathers_preferred()
//     (qamw/dispatch.hpp). Measured, G weights/s, integer GEMV (docs/PERFORMANCE.md "Against llama.cpp"): Emerald
//     Rapids Xeon, k = 9 / 11, one thread 8.38 / 7.96 against 6.01 / 5.77 with scalar loads, 16 threads 63.9 / 63.9
//     against 41.8 / 44.2; the Zen 4 VM, one thread, about 4.1 against 5.7–11 (an earlier microbenchmark there: zmm
//     gathers 1.8–2.0, ymm gathers 2.9–3.0, scalar loads 5.7). A ymm gather per 8 pairs on AVX2 was slower still and
//     is not built.
#pragma once

#include <qamw/kernels/arch.hpp>
#include <qamw/kernels/int_avx2.hpp>
#include <qamw/kernels/int_format.hpp>
#include <qamw/kernels/int_neon.hpp>
#include <qamw/kernels/int_quantize.hpp>
#include <qamw/kernels/lookup.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif


namespace qamw::kernels {

#if defined(__x86_64__) || defined(_M_X64)
namespace x86 {

/// q16 vector operations on 256-bit registers (AVX2: vpmaddwd + vpaddd; AVX-512 VNNI: vpdpwssd): 8 pairs per vector.
template <class Arch>
struct q16_ymm {
    using ivec = __m256i;
    using fvec = __m256;
    static constexpr std::size_t lanes = 8;
    static ivec izero() { return _mm256_setzero_si256(); }
    static fvec fzero() { return _mm256_setzero_ps(); }
    static ivec load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
    /// acc + (cx·ax + cy·ay) per pair
    static ivec dot(ivec acc, ivec w, ivec a) {
        if constexpr (std::is_base_of_v<avx512_vnni, Arch>) return _mm256_dpwssd_epi32(acc, w, a);
        else return _mm256_add_epi32(acc, _mm256_madd_epi16(w, a));
    }
    /// f + d · float(t)
    static fvec scale_add(ivec t, float d, fvec f) { return _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_set1_ps(d), f); }
    static float sum(fvec f) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
};

/// q16 integer operations on 512-bit registers (AVX-512 VNNI: vpdpwssd, 16 pairs per vector) with q16_ymm's float
/// part: a block's 16 int32 lanes are folded exactly into 8 (lane l + lane l + 8: the sums of the pairs ≡ l mod 8, as
/// q16_ymm's lanes hold them) before the convert, so the floats are those of the ymm row kernel, bit for bit.
template <class Arch>
struct q16_zmm : q16_ymm<Arch> {
    using ivec = __m512i;
    static constexpr std::size_t lanes = 16;
    static ivec izero() { return _mm512_setzero_si512(); }
    static ivec load(const void* p) { return _mm512_loadu_si512(p); }
    static ivec dot(ivec acc, ivec w, ivec a) { return _mm512_dpwssd_epi32(acc, w, a); }
    static __m256 scale_add(ivec t, float d, __m256 f) {
        return q16_ymm<Arch>::scale_add(_mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1)), d, f);
    }
};

/// The q16 sums of R rows against M activations at once (the register-blocked micro-kernel; R = M = 1 is the row
/// kernel): out[j][r] = Σ_b d_jb · Σ_{p ∈ b} (cx·ax + cy·ay) with V's vectors (q16_ymm, q16_zmm). Per 64-pair block and
/// vector of V::lanes pairs: M activation loads, R word loads, R·M multiply-adds into int32 accumulators; per block
/// and accumulator one convert and one FMA into a float accumulator; at the end one horizontal sum each. Every
/// (row, activation) pair does the same float operations in the same order whatever R, M and the source of its words,
/// so the GEMV and the GEMM give the same bits.
template <class V, std::size_t R, std::size_t M>
struct q16_tile {
    static constexpr std::size_t per_block = q16_block_pairs / V::lanes;  ///< vectors per block

    /// word(r, v): row r's words of pairs [v·V::lanes, (v + 1)·V::lanes) (a V::ivec); a[j]: activation j's blocks.
    template <class Word>
    static void sums(Word&& word, std::size_t pairs, const block_q16a* const (&a)[M], float (&out)[M][R]) {
        typename V::fvec f[M][R];
        for (std::size_t j = 0; j < M; ++j)
            for (std::size_t r = 0; r < R; ++r) f[j][r] = V::fzero();
        auto block = [&](std::size_t b, auto nv) {
            typename V::ivec t[M][R];
            for (std::size_t j = 0; j < M; ++j)
                for (std::size_t r = 0; r < R; ++r) t[j][r] = V::izero();
            for (std::size_t v = 0; v < nv; ++v) {
                typename V::ivec av[M];
                for (std::size_t j = 0; j < M; ++j) av[j] = V::load(a[j][b].q + 2 * V::lanes * v);
                for (std::size_t r = 0; r < R; ++r) {
                    const typename V::ivec w = word(r, b * per_block + v);
                    for (std::size_t j = 0; j < M; ++j) t[j][r] = V::dot(t[j][r], w, av[j]);
                }
            }
            for (std::size_t j = 0; j < M; ++j)
                for (std::size_t r = 0; r < R; ++r) f[j][r] = V::scale_add(t[j][r], a[j][b].d, f[j][r]);
        };
        const std::size_t full = pairs / q16_block_pairs;
        for (std::size_t b = 0; b < full; ++b) block(b, std::integral_constant<std::size_t, per_block>{});
        if (pairs % q16_block_pairs) block(full, (pairs % q16_block_pairs) / V::lanes);
        for (std::size_t j = 0; j < M; ++j)
            for (std::size_t r = 0; r < R; ++r) out[j][r] = V::sum(f[j][r]);
    }

    /// y[j·ldy + r] = s16 · the sums, for rows r < nrows whose words start at words + r·ldw and activations j < m
    /// (q16_activation(a, a_stride, j)): tiles of R rows × M activations, activations outer (so a tile's M
    /// activations stay in cache across the rows); the last tile's missing rows and activations repeat its last ones
    /// and are not stored.
    static void words(const std::int32_t* words, std::size_t ldw, std::size_t nrows, std::size_t pairs,
                      const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                      std::size_t ldy) {
        for (std::size_t j0 = 0; j0 < m; j0 += M) {
            const block_q16a* aj[M];
            for (std::size_t j = 0; j < M; ++j) aj[j] = ref::q16_activation(a, a_stride, std::min(j0 + j, m - 1));
            for (std::size_t r0 = 0; r0 < nrows; r0 += R) {
                const std::int32_t* wr[R];
                for (std::size_t r = 0; r < R; ++r) wr[r] = words + std::min(r0 + r, nrows - 1) * ldw;
                float out[M][R];
                sums([&](std::size_t r, std::size_t v) { return V::load(wr[r] + V::lanes * v); }, pairs, aj, out);
                for (std::size_t j = 0; j < std::min(M, m - j0); ++j)
                    for (std::size_t r = 0; r < std::min(R, nrows - r0); ++r) y[(j0 + j) * ldy + r0 + r] = cb.s16 * out[j][r];
            }
        }
    }
};

/// The row kernel on the codes: y[r] = s16 · the q16 sums of row r (codes + r·stride) through q16_tile<V, 1, 1>, the
/// words of pairs [v·V::lanes, (v + 1)·V::lanes) from Source::words(codes of the row, v, table).
template <class V, class Source>
void q16_rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs, const int_codebook& cb,
              const block_q16a* a, float* y) {
    const block_q16a* const aj[1] = {a};
    for (std::size_t r = 0; r < nrows; ++r) {
        const std::uint8_t* c = codes + r * stride;
        float out[1][1];
        q16_tile<V, 1, 1>::sums([&](std::size_t, std::size_t v) { return Source::words(c, v, cb.xy16); }, pairs, aj, out);
        y[r] = cb.s16 * out[0][0];
    }
}

/// q16 rows from the codes: scalar 32-bit table loads (see the file comment), 8 pairs assembled into a ymm.
template <class Arch, int K>
struct q16_codes {
    /// The words of pairs [8v, 8v + 8) of the row whose codes start at c.
    static __m256i words(const std::uint8_t* c, std::size_t v, const std::int16_t* tab) {
        const group_indices<K> ix(c + v * K);
        auto w = [&](std::size_t i) {
            std::int32_t e;
            std::memcpy(&e, tab + 2 * i, 4);
            return e;
        };
        return _mm256_setr_epi32(w(ix.template get<0>()), w(ix.template get<1>()), w(ix.template get<2>()),
                                 w(ix.template get<3>()), w(ix.template get<4>()), w(ix.template get<5>()),
                                 w(ix.template get<6>()), w(ix.template get<7>()));
    }
    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q16a* a, float* y) {
        q16_rows<q16_ymm<Arch>, q16_codes>(codes, stride, nrows, pairs, cb, a, y);
    }
};

/// q16 rows from the codes by hardware gathers (the avx512vnni_gather kernels): per 16 pairs one masked 256-bit load
/// of their 2K code bytes, one vpermb (the 4 bytes holding pair p's bits into lane p), one vpsrlvd, one vpand and one
/// vpgatherdd zmm of the table words, then q16_zmm's vpdpwssd and its fold to q16_ymm's floats, so the result is
/// q16_codes' bit for bit; the codes are prefetched prefetch_bytes ahead. Reads no byte past the codes.
template <class Arch, int K>
struct q16_gather {
    /// How far ahead the codes are prefetched: chosen in a kernel microbenchmark outside the repo on the Emerald Rapids
    /// Xeon (the former 16-pair scale blocks, k = 9 and 11, one thread, codes in L3; indicative only, not reproducible
    /// from the repo), where 2048 bytes ahead roughly doubled the rate against no prefetch; other distances were not
    /// compared there.
    static constexpr std::size_t prefetch_bytes = 2048;
    /// The words of pairs [16v, 16v + 16) of the row whose codes start at c.
    static __m512i words(const std::uint8_t* c, std::size_t v, const std::int16_t* tab) {
        alignas(64) static constexpr auto ctl = [] {
            struct t { std::uint8_t perm[64]; std::uint32_t shift[16]; } s{};
            for (int p = 0; p < 16; ++p) {
                for (int j = 0; j < 4; ++j) s.perm[4 * p + j] = static_cast<std::uint8_t>(p * K / 8 + j);
                s.shift[p] = static_cast<std::uint32_t>(p * K % 8);
            }
            return s;
        }();
        const std::uint8_t* g = c + v * 2 * K;
        // an integer address: a pointer that far past the codes would be undefined (the prefetch never faults)
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(g) + prefetch_bytes), _MM_HINT_T0);
        const __m512i raw = _mm512_castsi256_si512(_mm256_maskz_loadu_epi8((std::uint32_t{1} << (2 * K)) - 1, g));
        const __m512i idx = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(_mm512_load_si512(ctl.perm), raw),
                                                               _mm512_load_si512(ctl.shift)),
                                             _mm512_set1_epi32((1 << K) - 1));
        return _mm512_i32gather_epi32(idx, tab, 4);
    }
    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q16a* a, float* y) {
        q16_rows<q16_zmm<Arch>, q16_gather>(codes, stride, nrows, pairs, cb, a, y);
    }
};

/// q16 rows of a d8 codebook (int_codebook::d8, K = 9…11) against the split activation (block_q16s), from the codes
/// in the split layout (split_codes: per 64 pairs the codes' low bytes in block_q16s's pair order, then K − 8 bit
/// masks), the base in registers. Per 64 pairs (one activation block): one 64-byte load of the low bytes, K − 8 mask
/// loads, the rest of s's bits from the bytes (K = 10: bit 7 by vpmovb2m; K = 9: bits 6, 7 by vptestmb and vpmovb2m);
/// the base's x and y by one vpermi2b each (K = 11: two and a blend on bit 7 of b, its vpmovb2m); the swap as two
/// byte blends; the negations on the activation's four byte planes (four masked vpsubb: −(128·hi + lo) = 128·(−hi) +
/// (−lo)); four vpdpbusd (u·hi and u·lo of x and y, 4 pairs per 32-bit lane) and 128·Σhi + Σlo, which is the block's
/// q16 sum exactly (int_codebook's grid integers u ≤ 255, |hi| ≤ 32, lo ≤ 127). Lanes l and l + 8 hold the pairs ≡ l
/// mod 8, so q16_zmm's fold and float step give q16_codes' floats bit for bit. 41 instructions per 128 weights in the
/// compiled K = 11 loop (GCC 12, register moves included; 34 at K = 9), 5 of them on the shuffle port, and no table
/// load (q16: one per pair, a gather element or a scalar load); on the packed codes, extracting b and s cost 8 more and
/// 6 more shuffles. Every chunk is whole (the split layout completes the last), so nothing is read past the codes.
template <class Arch, int K>
struct q16_d8 {
    static_assert(K >= 9 && K <= 11, "q16_d8: k in 9..11 (a base of 64, 128 or 256 points)");
    static constexpr std::size_t prefetch_bytes = 2048;
    static constexpr std::size_t chunk = 8 * K;  ///< split-layout bytes of 64 pairs

    /// A byte plane of the base, looked up at b (periodic in b, so bits of b above the base's width select a copy).
    struct plane {
        __m512i t0, t1, t2, t3;
        explicit plane(const std::uint8_t* p)
            : t0(_mm512_load_si512(p)), t1(_mm512_load_si512(p + 64)), t2(_mm512_load_si512(p + 128)),
              t3(_mm512_load_si512(p + 192)) {}
        __m512i at(__m512i b, __mmask64 hi) const {
            const __m512i lo = _mm512_permutex2var_epi8(t0, b, t1);
            if constexpr (K < 11) return lo;
            else return _mm512_mask_blend_epi8(hi, lo, _mm512_permutex2var_epi8(t2, b, t3));
        }
    };

    /// The block's q16 sum against the 64 pairs of the split-layout chunk at g, in 16 lanes.
    static __m512i block_sum(const std::uint8_t* g, const plane& px, const plane& py, const block_q16s& a) {
        const __m512i b = _mm512_loadu_si512(g);
        auto mask = [&](int t) {
            __mmask64 m;
            std::memcpy(&m, g + 64 + 8 * t, 8);
            return m;
        };
        // s's bits 0 (negate x), 1 (negate y), 2 (swap) are code bits K − 3, K − 2, K − 1
        __mmask64 hi = 0, nx, ny, swap;
        if constexpr (K == 11) hi = _mm512_movepi8_mask(b), nx = mask(0), ny = mask(1), swap = mask(2);
        else if constexpr (K == 10) nx = _mm512_movepi8_mask(b), ny = mask(0), swap = mask(1);
        else nx = _mm512_test_epi8_mask(b, _mm512_set1_epi8(0x40)), ny = _mm512_movepi8_mask(b), swap = mask(0);
        const __m512i ux0 = px.at(b, hi), uy0 = py.at(b, hi);
        const __m512i ux = _mm512_mask_blend_epi8(swap, ux0, uy0), uy = _mm512_mask_blend_epi8(swap, uy0, ux0);
        const __m512i zero = _mm512_setzero_si512();
        auto neg = [&](const std::int8_t* plane, __mmask64 m) {
            const __m512i v = _mm512_loadu_si512(plane);
            return _mm512_mask_sub_epi8(v, m, zero, v);
        };
        __m512i h = _mm512_dpbusd_epi32(zero, ux, neg(a.hi[0], nx));
        h = _mm512_dpbusd_epi32(h, uy, neg(a.hi[1], ny));
        __m512i l = _mm512_dpbusd_epi32(zero, ux, neg(a.lo[0], nx));
        l = _mm512_dpbusd_epi32(l, uy, neg(a.lo[1], ny));
        return _mm512_add_epi32(_mm512_slli_epi32(h, 7), l);
    }

    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q16s* a, float* y) {
        using V = q16_zmm<Arch>;
        const plane px(cb.d8_planes[0]), py(cb.d8_planes[1]);
        const std::size_t chunks = q16a_blocks(pairs);
        for (std::size_t r = 0; r < nrows; ++r) {
            const std::uint8_t* c = codes + r * stride;
            typename V::fvec f = V::fzero();
            for (std::size_t i = 0; i < chunks; ++i) {
                // an integer address: a pointer that far past the codes would be undefined (the prefetch never faults)
                _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(c + i * chunk) + prefetch_bytes),
                             _MM_HINT_T0);
                f = V::scale_add(block_sum(c + i * chunk, px, py, a[i]), a[i].d, f);
            }
            y[r] = cb.s16 * V::sum(f);
        }
    }
};

/// AVX-512 VBMI + VNNI kernels (instantiated only for qamw::avx512_vnni).
template <class Arch, int K>
struct vnni {
    static float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

    /// How far ahead rows_q8 prefetches its codes. The hardware prefetchers alone left one thread of the 16-core Xeon
    /// (Emerald Rapids) at about half its read bandwidth; 4096 bytes ahead took k = 7–8 from 12–14 to 19–27 G weights/s
    /// with the codes in DRAM (2048: less; 8192 or a prefetch to L2 only: the same), and changed nothing measurable on
    /// the Zen 4 VM (docs/PERFORMANCE.md "Integer kernels").
    static constexpr std::size_t prefetch_bytes = 4096;

    /// q8: 64 pairs per step, codebook in registers.
    static void rows_q8(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                        const int_codebook& cb, const block_q8a* a, float bias, float* y) {
        static_assert(K <= 8, "q8 kernels need k <= 8");
        alignas(64) static constexpr auto ctl = [] {
            struct t { std::uint8_t perm[64], shift[64]; std::int32_t lane_block[16]; } c{};
            for (int g = 0; g < 8; ++g)
                for (int j = 0; j < 8; ++j) {
                    const int s = g * K + j;
                    c.perm[8 * g + j] = static_cast<std::uint8_t>(s < 64 ? s : 63);
                    c.shift[8 * g + j] = static_cast<std::uint8_t>(j * K);
                }
            for (int l = 0; l < 16; ++l) c.lane_block[l] = l / 4;
            return c;
        }();
        const __m512i x0 = _mm512_load_si512(cb.ux8), x1 = _mm512_load_si512(cb.ux8 + 64);
        const __m512i y0 = _mm512_load_si512(cb.uy8), y1 = _mm512_load_si512(cb.uy8 + 64);
        const __m512i x2 = _mm512_load_si512(cb.ux8 + 128), x3 = _mm512_load_si512(cb.ux8 + 192);
        const __m512i y2 = _mm512_load_si512(cb.uy8 + 128), y3 = _mm512_load_si512(cb.uy8 + 192);
        const __m512i perm = _mm512_load_si512(ctl.perm), shift = _mm512_load_si512(ctl.shift);
        const __m512i lane_block = _mm512_load_si512(ctl.lane_block);
        const std::size_t full = pairs / 64, tail = pairs % 64;
        const __mmask64 tail_mask = tail ? (~std::uint64_t{0} >> (64 - tail * K / 8)) : 0;
        for (std::size_t r = 0; r < nrows; ++r) {
            const std::uint8_t* c = codes + r * stride;
            __m512 f0 = _mm512_setzero_ps(), f1 = _mm512_setzero_ps();
            auto step = [&](std::size_t i, __mmask64 m, __m512& f) {
                // Prefetch the codes prefetch_bytes ahead (never faults; past the matrix it only wastes a slot). The
                // address is formed as an integer: a pointer that far past the codes would be undefined.
                _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(c) + i * 8 * K + prefetch_bytes),
                             _MM_HINT_T0);
                // full chunks with 64 readable bytes: a plain load (a partial-mask load measured 10x slower on Zen 4)
                const __m512i raw = m == ~__mmask64{0} ? _mm512_loadu_si512(c + i * 8 * K) : _mm512_maskz_loadu_epi8(m, c + i * 8 * K);
                __m512i idx = raw;
                if constexpr (K < 8) idx = _mm512_multishift_epi64_epi8(shift, _mm512_permutexvar_epi8(perm, raw));
                __m512i ux = _mm512_permutex2var_epi8(x0, idx, x1), uy = _mm512_permutex2var_epi8(y0, idx, y1);
                if constexpr (K == 8) {
                    const __mmask64 hi = _mm512_movepi8_mask(idx);
                    ux = _mm512_mask_blend_epi8(hi, ux, _mm512_permutex2var_epi8(x2, idx, x3));
                    uy = _mm512_mask_blend_epi8(hi, uy, _mm512_permutex2var_epi8(y2, idx, y3));
                }
                __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ux, _mm512_loadu_si512(a[i].x));
                acc = _mm512_dpbusd_epi32(acc, uy, _mm512_loadu_si512(a[i].y));
                const __m512 d = _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(_mm_loadu_ps(a[i].d)));
                f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, f);
            };
            // A full chunk takes a plain 64-byte load only when those 64 bytes lie inside the row (chunk i starts at
            // byte 8·K·i of row_bytes = pairs·K/8); the others read their 8·K bytes with the exact mask.
            const __mmask64 all = ~__mmask64{0}, last = K == 8 ? all : (~std::uint64_t{0} >> (64 - 8 * K));
            const std::size_t row_bytes = pairs * K / 8;
            const std::size_t plain = row_bytes < 64 ? 0 : std::min(full, (row_bytes - 64) / (8 * K) + 1);
            std::size_t i = 0;
            for (; i + 2 <= plain; i += 2) step(i, all, f0), step(i + 1, all, f1);
            for (; i < full; ++i) step(i, i < plain ? all : last, f0);
            if (tail) step(i, tail_mask, f1);
            y[r] = cb.s8 * (hsum(_mm512_add_ps(f0, f1)) - bias);
        }
    }
};

}  // namespace x86
#endif

/// Integer row kernels of one architecture. Function signatures match the scalar references in int_format.hpp.
template <class Arch>
struct int_product {
    static constexpr bool has_vnni = std::is_base_of_v<avx512_vnni, Arch>;
    static constexpr bool has_gather = std::is_base_of_v<avx512_vnni_gather, Arch>;
    static constexpr bool has_avx2 = std::is_base_of_v<xsimd::avx2, Arch> || std::is_base_of_v<xsimd::avx512bw, Arch>;
    static constexpr bool has_neon = std::is_base_of_v<xsimd::neon64, Arch>;
    /// The largest k that runs on the q8 path here (0: none; the kernel table then holds no dot_rows_q8 and callers use
    /// q16): where the q8 kernel measured faster than q16 (docs/PERFORMANCE.md "Integer kernels"). AVX-512 VNNI and
    /// NEON 8; AVX-512BW without VBMI 7 and AVX2 6 (register lookups of 16-entry slices: 2^(k−4) pshufb per
    /// coordinate, blends to combine them; at k = 8, and on AVX2 at k = 7, q16's table loads were as fast or faster).
    static constexpr int q8_max_bits = has_vnni || has_neon                  ? 8
                                       : std::is_base_of_v<xsimd::avx512bw, Arch> ? 7
                                       : has_avx2                                  ? 6
                                                                                   : 0;

    /// The element operations of the activation quantizers on Arch (kernels/int_quantize.hpp): AVX-512 (the avx512bw
    /// set and those derived from it), AVX2, NEON; the scalar reference's elsewhere. Used as decltype(act_ops()).
    static auto act_ops() {
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (std::is_base_of_v<xsimd::avx512bw, Arch>) return x86::act_avx512<Arch>{};
        else if constexpr (has_avx2) return x86::act_avx2<Arch>{};
        else return qamw::detail::scalar_act{};
#elif defined(__aarch64__) || defined(_M_ARM64)
        if constexpr (has_neon) return arm::act_neon<Arch>{};
        else return qamw::detail::scalar_act{};
#else
        return qamw::detail::scalar_act{};
#endif
    }

    /// quantize_q8a (kernels/int_format.hpp) on act_ops(): the reference's blocks and bias, bit for bit (pairs % 16 == 0).
    static float quantize_q8a(const float* xt, std::size_t pairs, block_q8a* out) {
        return qamw::detail::quantize_q8a_with<decltype(act_ops())>(xt, pairs, out);
    }

    /// quantize_q16a likewise (pairs % 16 == 0).
    static void quantize_q16a(const float* xt, std::size_t pairs, block_q16a* out) {
        qamw::detail::quantize_q16a_with<decltype(act_ops())>(xt, pairs, out);
    }

    /// quantize_q16s likewise (pairs % 16 == 0).
    static void quantize_q16s(const float* xt, std::size_t pairs, block_q16s* out, block_q16a* q16) {
        qamw::detail::quantize_q16s_with<decltype(act_ops())>(xt, pairs, out, q16);
    }

    /// Whether dot_rows_q16s has a SIMD kernel here (AVX-512 VBMI + VNNI, for d8 codebooks at k = 9…11); the kernel
    /// table then hands it out, callers use it for exactly those codebooks (int_uses_q16s) and q16 for the others.
    static constexpr bool has_q16s = has_vnni;

    /// dot_rows_q16 for a d8 codebook (int_codebook::d8), its codes in the split layout (split_codes; rows `stride`
    /// bytes apart), against the split activation (quantize_q16s): the bits of dot_rows_q16 on the packed codes. SIMD
    /// (x86::q16_d8) where has_q16s and k is 9…11, the scalar reference elsewhere. Reads no byte past the codes.
    static void dot_rows_q16s(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs, int k,
                              const int_codebook& cb, const block_q16s* a, float* y) {
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (has_q16s)
            if (cb.d8) switch (k) {
                    case 9: return x86::q16_d8<Arch, 9>::rows(codes, stride, nrows, pairs, cb, a, y);
                    case 10: return x86::q16_d8<Arch, 10>::rows(codes, stride, nrows, pairs, cb, a, y);
                    case 11: return x86::q16_d8<Arch, 11>::rows(codes, stride, nrows, pairs, cb, a, y);
                    default: break;
                }
#endif
        ref::dot_rows_q16s(codes, stride, nrows, pairs, k, cb, a, y);
    }

    /// y[r] ≈ ⟨ĉ_r, x̃⟩ for rows r < nrows of `pairs` k-bit codes (k ≤ 8, pairs % 16 == 0) at codes + r·stride, against
    /// the q8 activation `a` (q8a_blocks(pairs) blocks) with its bias (quantize_q8a). Reads no byte past the codes.
    /// SIMD for k ≤ q8_max_bits, the scalar reference above.
    static void dot_rows_q8(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs, int k,
                            const int_codebook& cb, const block_q8a* a, float bias, float* y) {
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (has_vnni) {
            switch (k) {
                case 4: return x86::vnni<Arch, 4>::rows_q8(codes, stride, nrows, pairs, cb, a, bias, y);
                case 5: return x86::vnni<Arch, 5>::rows_q8(codes, stride, nrows, pairs, cb, a, bias, y);
                case 6: return x86::vnni<Arch, 6>::rows_q8(codes, stride, nrows, pairs, cb, a, bias, y);
                case 7: return x86::vnni<Arch, 7>::rows_q8(codes, stride, nrows, pairs, cb, a, bias, y);
                default: return x86::vnni<Arch, 8>::rows_q8(codes, stride, nrows, pairs, cb, a, bias, y);
            }
        } else if constexpr (has_avx2) {
            if (k <= q8_max_bits)
                return with_bits(k, [&](auto bits) {
                    if constexpr (decltype(bits)::value <= q8_max_bits)
                        x86::q8_avx2<Arch, decltype(bits)::value>::rows(codes, stride, nrows, pairs, cb, a, y);
                });
        }
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
        if constexpr (has_neon) {
            switch (k) {
                case 4: return arm::q8<Arch, 4>::rows(codes, stride, nrows, pairs, cb, a, y);
                case 5: return arm::q8<Arch, 5>::rows(codes, stride, nrows, pairs, cb, a, y);
                case 6: return arm::q8<Arch, 6>::rows(codes, stride, nrows, pairs, cb, a, y);
                case 7: return arm::q8<Arch, 7>::rows(codes, stride, nrows, pairs, cb, a, y);
                default: return arm::q8<Arch, 8>::rows(codes, stride, nrows, pairs, cb, a, y);
            }
        }
#endif
        ref::dot_rows_q8(codes, stride, nrows, pairs, k, cb, a, bias, y);
    }

    /// y[r] ≈ ⟨ĉ_r, x̃⟩ for rows r < nrows of `pairs` k-bit codes (pairs % 16 == 0) against the q16 activation `a`
    /// (q16a_blocks(pairs) blocks). Reads ≤ kernels::overread bytes past the last row's codes.
    static void dot_rows_q16(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs, int k,
                             const int_codebook& cb, const block_q16a* a, float* y) {
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (has_avx2) {
            return with_bits(k, [&](auto bits) {
                if constexpr (has_gather) x86::q16_gather<Arch, decltype(bits)::value>::rows(codes, stride, nrows, pairs, cb, a, y);
                else x86::q16_codes<Arch, decltype(bits)::value>::rows(codes, stride, nrows, pairs, cb, a, y);
            });
        }
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
        if constexpr (has_neon)
            return with_bits(k, [&](auto bits) { arm::q16<Arch>::template rows<decltype(bits)::value>(codes, stride, nrows, pairs, cb, a, y); });
#endif
        ref::dot_rows_q16(codes, stride, nrows, pairs, k, cb, a, y);
    }

    /// out[p] = the 32-bit q16 table entry of code p (int_codebook::xy16), p < pairs (pairs % 8 == 0): the lookups of
    /// a row done once, for the batched product to reuse (dot_words_q16). Reads ≤ kernels::overread bytes past the codes.
    static void lookup_q16(const std::uint8_t* codes, std::size_t pairs, int k, const int_codebook& cb, std::int32_t* out) {
        with_bits(k, [&](auto bits) {
            constexpr int K = decltype(bits)::value;
            auto put = [&](std::int32_t* o, std::size_t i) { std::memcpy(o, cb.xy16 + 2 * i, 4); };
            for (std::size_t g = 0; g < pairs / 8; ++g, out += 8) {
                const group_indices<K> ix(codes + g * K);
                put(out, ix.template get<0>()), put(out + 1, ix.template get<1>()), put(out + 2, ix.template get<2>());
                put(out + 3, ix.template get<3>()), put(out + 4, ix.template get<4>()), put(out + 5, ix.template get<5>());
                put(out + 6, ix.template get<6>()), put(out + 7, ix.template get<7>());
            }
        });
    }

    /// The tile shapes (rows × activations) of the q16 GEMM micro-kernel (x86::q16_tile::words).
    static constexpr std::size_t gemm_rows_zmm = 4, gemm_acts_zmm = 4, gemm_rows_ymm = 2, gemm_acts_ymm = 2;

    /// dot_rows_q16 from looked-up words, batched: y[j·ldy + r] for rows r < nrows whose lookup_q16 words start at
    /// words + r·ldw and activations j < m, the j-th's blocks a_stride bytes after the (j − 1)-th's; the same bits as
    /// dot_rows_q16 on the codes.
    static void dot_words_q16(const std::int32_t* words, std::size_t ldw, std::size_t nrows, std::size_t pairs,
                              const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                              std::size_t ldy) {
#if defined(__x86_64__) || defined(_M_X64)
        if constexpr (has_vnni)
            return x86::q16_tile<x86::q16_zmm<Arch>, gemm_rows_zmm, gemm_acts_zmm>::words(words, ldw, nrows, pairs, cb, a,
                                                                                         a_stride, m, y, ldy);
        else if constexpr (has_avx2)
            return x86::q16_tile<x86::q16_ymm<Arch>, gemm_rows_ymm, gemm_acts_ymm>::words(words, ldw, nrows, pairs, cb, a,
                                                                                         a_stride, m, y, ldy);
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
        if constexpr (has_neon) return arm::q16<Arch>::words_rows(words, ldw, nrows, pairs, cb, a, a_stride, m, y, ldy);
#endif
        ref::dot_words_q16(words, ldw, nrows, pairs, cb, a, a_stride, m, y, ldy);
    }
};

}  // namespace qamw::kernels
