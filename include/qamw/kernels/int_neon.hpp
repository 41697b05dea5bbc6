// qamw/kernels/int_neon.hpp — the AArch64 NEON integer row kernels (formats and scalar references:
// kernels/int_format.hpp; the per-ISA dispatch: kernels/int_product.hpp). Both give the scalar references' bits: the
// inner sums are exact in int32 whatever the lane order, and the outer sum is the references' one, in double, block by
// block in the same order (the per-block products d_b · t_b are formed two at a time in float64x2, then added one by
// one).
//
//   q8::rows (k ≤ 8), per 16 pairs (one activation scale block, 32 weights):
//     codes → 16 byte indices: k = 8 one 16-byte load; k = 4 one 8-byte load, and + ushr + zip1/zip2 of the nibbles;
//     k = 5…7 one 16-byte load (a copy through a 16-byte buffer for the row's last block when fewer than 16 bytes
//     remain: no byte past the row's codes is read), 2 tbl (bytes ⌊pk/8⌋, ⌊pk/8⌋ + 1 of pair p into a 16-bit lane),
//     2 ushl (by −(pk mod 8)), 1 uzp1 (low bytes), 1 and.
//     codebook in registers as signed int8 (cx = ux8 − 128, derived once per call by an eor with 0x80): per
//     coordinate k = 4 one tbl (1 register), k = 5 one tbl (2), k = 6 one tbl (4), k = 7 one tbl + one tbx (8),
//     k = 8 one tbl + three tbx (16; the two coordinates' 32 registers exceed the register file, so part of the table
//     is reloaded from L1), plus one sub per extra 64-entry slice shared by both coordinates.
//     products: on neondot (qamw::neon_dotprod, ARMv8.2 FEAT_DotProd) 2 sdot; on neon (the ARMv8.0 baseline) 2 smull
//     + 2 smlal (|cx·ax + cy·ay| ≤ 2·127² fits int16) + 2 sadalp.
//     per 64 pairs: 3 addp to the 4 block sums, 2 int→double widenings, 2 fmul, 4 scalar fadd.
//     ≈ 16 (k = 4 with sdot) to 24 (k = 8 without, plus table reloads) instructions per 32 weights, counted from the
//     source (the per-64-pair outer sum included); not measured on hardware.
//   q16::rows (any k), per 16 pairs: two groups of 8 indices extracted in general registers (group_indices, as the AVX2
//     kernel), 16 32-bit table entries inserted into 4 registers (ldr + ins), 4 smlal + 4 smlal2 against the int16
//     activation; per 64-pair block one addv, one int→double, fmul, fadd. Reads ≤ 6 bytes past the row's codes
//     (kernels::overread).
//   q16::words_rows: the same sums on looked-up words (int_product::lookup_q16): 4 128-bit loads per 16 pairs
//     instead of the lookups, one row and one activation at a time (not register-blocked).
#pragma once

#include <qamw/kernels/arch.hpp>
#include <qamw/kernels/int_format.hpp>
#include <qamw/kernels/lookup.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

namespace qamw::kernels::arm {

// Every kernel here is a template on the architecture tag (neon64 or qamw::neon_dotprod), so the translation units of
// the two kernel sets, compiled with different -march, never share an instantiation.

/// The 2^K signed int8 coordinates of one codebook axis in registers, from its offset-unsigned table (ux8 or uy8).
template <class Arch, int K>
struct q8_axis {
    static constexpr int regs = (1 << K) / 16;  ///< 1 (k = 4) … 16 (k = 8)
    int8x16_t v[regs];
    explicit q8_axis(const std::uint8_t* u) {
        for (int i = 0; i < regs; ++i) v[i] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(u + 16 * i), vdupq_n_u8(0x80)));
    }
    /// The coordinates of 16 indices (< 2^K).
    int8x16_t operator()(uint8x16_t idx) const {
        if constexpr (K == 4) {
            return vqtbl1q_s8(v[0], idx);
        } else if constexpr (K == 5) {
            return vqtbl2q_s8(int8x16x2_t{{v[0], v[1]}}, idx);
        } else {
            int8x16_t r = vqtbl4q_s8(int8x16x4_t{{v[0], v[1], v[2], v[3]}}, idx);
            // indices outside [64q, 64q + 64) wrap to ≥ 64 after the subtraction: tbx leaves their bytes as they are
            for (int q = 1; q < regs / 4; ++q)
                r = vqtbx4q_s8(r, int8x16x4_t{{v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]}},
                               vsubq_u8(idx, vdupq_n_u8(static_cast<std::uint8_t>(64 * q))));
            return r;
        }
    }
};

/// q8 kernel for K-bit codes (with sdot on qamw::neon_dotprod): see the file comment.
template <class Arch, int K>
struct q8 {
    static constexpr bool dot = std::is_base_of_v<neon_dotprod, Arch>;
    /// The 16 indices of the 16 pairs whose codes start at c (2K bytes); `whole`: 16 bytes are readable there.
    static uint8x16_t indices(const std::uint8_t* c, bool whole) {
        if constexpr (K == 8) {
            return vld1q_u8(c);
        } else if constexpr (K == 4) {
            const uint8x8_t b = vld1_u8(c);
            const uint8x8_t lo = vand_u8(b, vdup_n_u8(0x0f)), hi = vshr_n_u8(b, 4);
            return vcombine_u8(vzip1_u8(lo, hi), vzip2_u8(lo, hi));
        } else {
            static constexpr auto ctl = [] {
                struct t { std::uint8_t gather[32]; std::int16_t shift[16]; } s{};
                for (int p = 0; p < 16; ++p) {
                    s.gather[2 * p] = static_cast<std::uint8_t>(p * K / 8);
                    s.gather[2 * p + 1] = static_cast<std::uint8_t>(p * K / 8 + 1);
                    s.shift[p] = static_cast<std::int16_t>(-(p * K % 8));
                }
                return s;
            }();
            uint8x16_t raw;
            if (whole) {
                raw = vld1q_u8(c);
            } else {
                std::uint8_t buf[16] = {};
                std::memcpy(buf, c, 2 * K);
                raw = vld1q_u8(buf);
            }
            const uint16x8_t w0 = vreinterpretq_u16_u8(vqtbl1q_u8(raw, vld1q_u8(ctl.gather)));
            const uint16x8_t w1 = vreinterpretq_u16_u8(vqtbl1q_u8(raw, vld1q_u8(ctl.gather + 16)));
            const uint8x16_t b = vuzp1q_u8(vreinterpretq_u8_u16(vshlq_u16(w0, vld1q_s16(ctl.shift))),
                                           vreinterpretq_u8_u16(vshlq_u16(w1, vld1q_s16(ctl.shift + 8))));
            return vandq_u8(b, vdupq_n_u8(static_cast<std::uint8_t>((1 << K) - 1)));
        }
    }

    /// Lane sums whose total is Σ_p (cx·ax + cy·ay) over 16 pairs (exact).
    static int32x4_t block(uint8x16_t idx, const q8_axis<Arch, K>& tx, const q8_axis<Arch, K>& ty, const std::int8_t* ax,
                           const std::int8_t* ay) {
        const int8x16_t cx = tx(idx), cy = ty(idx), x = vld1q_s8(ax), y = vld1q_s8(ay);
        if constexpr (dot) {
            return vdotq_s32(vdotq_s32(vdupq_n_s32(0), cx, x), cy, y);
        } else {
            const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(cx), vget_low_s8(x)), vget_low_s8(cy), vget_low_s8(y));
            const int16x8_t hi = vmlal_high_s8(vmull_high_s8(cx, x), cy, y);
            return vpadalq_s16(vpaddlq_s16(lo), hi);
        }
    }

    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q8a* a, float* y) {
        static_assert(K >= 4 && K <= 8, "q8 kernels need 4 <= k <= 8");
        const q8_axis<Arch, K> tx(cb.ux8), ty(cb.uy8);
        const std::size_t row_bytes = pairs * K / 8, full = pairs / 64;
        for (std::size_t r = 0; r < nrows; ++r) {
            const std::uint8_t* c = codes + r * stride;
            auto sums = [&](std::size_t blk) {  // block blk of 16 pairs: codes at byte 2K·blk
                const block_q8a& b = a[blk / 4];
                const std::size_t off = blk * 2 * K, j = blk % 4;
                return block(indices(c + off, off + 16 <= row_bytes), tx, ty, b.x + 16 * j, b.y + 16 * j);
            };
            double s = 0;
            for (std::size_t i = 0; i < full; ++i) {
                const int32x4_t t = vpaddq_s32(vpaddq_s32(sums(4 * i), sums(4 * i + 1)),
                                               vpaddq_s32(sums(4 * i + 2), sums(4 * i + 3)));
                const float32x4_t d = vld1q_f32(a[i].d);
                const float64x2_t p01 = vmulq_f64(vcvt_f64_f32(vget_low_f32(d)), vcvtq_f64_s64(vmovl_s32(vget_low_s32(t))));
                const float64x2_t p23 = vmulq_f64(vcvt_high_f64_f32(d), vcvtq_f64_s64(vmovl_high_s32(t)));
                s += vgetq_lane_f64(p01, 0);
                s += vgetq_lane_f64(p01, 1);
                s += vgetq_lane_f64(p23, 0);
                s += vgetq_lane_f64(p23, 1);
            }
            for (std::size_t blk = 4 * full; blk < pairs / 16; ++blk)
                s += double(a[blk / 4].d[blk % 4]) * double(vaddvq_s32(sums(blk)));
            y[r] = static_cast<float>(double(cb.s8) * s);
        }
    }
};

/// q16 sums from any source of int16 (x, y) words: see the file comment.
template <class Arch>
struct q16 {
    /// s16 · Σ_b d_b · Σ_{p ∈ b} (cx·ax + cy·ay) of one row in the reference's order (ref::q16_row), the words of pairs
    /// [8g, 8g + 8) from word(g) (int32x4x2_t).
    template <class Word>
    static float row(Word&& word, std::size_t pairs, const int_codebook& cb, const block_q16a* a) {
        double s = 0;
        for (std::size_t b = 0; b < q16a_blocks(pairs); ++b) {
            int32x4_t acc = vdupq_n_s32(0);
            const std::size_t groups = std::min(q16_block_pairs, pairs - b * q16_block_pairs) / 8;
            for (std::size_t g = 0; g < groups; ++g) {
                const int32x4x2_t w = word(q16_block_pairs / 8 * b + g);
                for (std::size_t h = 0; h < 2; ++h) {
                    const int16x8_t c = vreinterpretq_s16_s32(w.val[h]), q = vld1q_s16(a[b].q + 16 * g + 8 * h);
                    acc = vmlal_high_s16(vmlal_s16(acc, vget_low_s16(c), vget_low_s16(q)), c, q);
                }
            }
            s += double(a[b].d) * double(vaddvq_s32(acc));
        }
        return static_cast<float>(double(cb.s16) * s);
    }

    /// Rows of K-bit codes: the words by scalar table loads.
    template <int K>
    static void rows(const std::uint8_t* codes, std::size_t stride, std::size_t nrows, std::size_t pairs,
                     const int_codebook& cb, const block_q16a* a, float* y) {
        auto w = [&](std::size_t i) {
            std::int32_t v;
            std::memcpy(&v, cb.xy16 + 2 * i, 4);
            return v;
        };
        for (std::size_t r = 0; r < nrows; ++r) {
            const std::uint8_t* c = codes + r * stride;
            y[r] = row([&](std::size_t g) {
                const group_indices<K> ix(c + g * K);
                int32x4x2_t v{{vdupq_n_s32(0), vdupq_n_s32(0)}};
                v.val[0] = vsetq_lane_s32(w(ix.template get<0>()), v.val[0], 0);
                v.val[0] = vsetq_lane_s32(w(ix.template get<1>()), v.val[0], 1);
                v.val[0] = vsetq_lane_s32(w(ix.template get<2>()), v.val[0], 2);
                v.val[0] = vsetq_lane_s32(w(ix.template get<3>()), v.val[0], 3);
                v.val[1] = vsetq_lane_s32(w(ix.template get<4>()), v.val[1], 0);
                v.val[1] = vsetq_lane_s32(w(ix.template get<5>()), v.val[1], 1);
                v.val[1] = vsetq_lane_s32(w(ix.template get<6>()), v.val[1], 2);
                v.val[1] = vsetq_lane_s32(w(ix.template get<7>()), v.val[1], 3);
                return v;
            }, pairs, cb, a);
        }
    }

    /// Rows from looked-up words (int_product::lookup_q16) at words + r·ldw against activations j < m
    /// (ref::q16_activation(a, a_stride, j)): y[j·ldy + r].
    static void words_rows(const std::int32_t* words, std::size_t ldw, std::size_t nrows, std::size_t pairs,
                           const int_codebook& cb, const block_q16a* a, std::size_t a_stride, std::size_t m, float* y,
                           std::size_t ldy) {
        for (std::size_t j = 0; j < m; ++j)
            for (std::size_t r = 0; r < nrows; ++r) {
                const std::int32_t* w = words + r * ldw;
                y[j * ldy + r] = row([&](std::size_t g) { return int32x4x2_t{{vld1q_s32(w + 8 * g), vld1q_s32(w + 8 * g + 4)}}; },
                                     pairs, cb, ref::q16_activation(a, a_stride, j));
            }
    }
};

}  // namespace qamw::kernels::arm
#endif
