// qamw/kernels/fwht.hpp — SIMD kernel of the randomized block Hadamard stage (stages/fwht.hpp has the math and the
// scalar reference). Bit-exact with qamw::ref: the same butterfly passes in the same order, one IEEE operation each.
//
// Passes with distance h ≥ W (the batch width) pair whole batches; passes with h < W pair lanes inside one batch:
// v' = select(lane & h, swizzle(v, lane ^ h) − v, v + swizzle(v, lane ^ h)). Blocks of up to 16 batches (256 floats
// with AVX-512) are transformed in registers with the sign and gain multiplies fused: one load and one store per float,
// log2(B) adds or subtracts. Larger blocks finish their passes in L1-resident memory.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>

namespace qamw::kernels {

template <class Arch>
struct fwht {
    using batch = xsimd::batch<float, Arch>;
    static constexpr std::size_t W = batch::size;

    template <unsigned H>
    struct lane_xor {
        static constexpr std::uint32_t get(std::size_t i, std::size_t) { return static_cast<std::uint32_t>(i ^ H); }
    };
    /// −0.0f in the lanes with bit H set (the "upper" element of each pair at distance H), +0.0f elsewhere.
    template <unsigned H>
    struct lane_sign {
        static constexpr std::uint32_t get(std::size_t i, std::size_t) { return (i & H) ? 0x80000000u : 0u; }
    };

    /// Butterflies with h = H, 2H, … < W inside one batch: lower lanes v + other, upper lanes other − v, computed as
    /// other + (v with its sign flipped in the upper lanes) — the same IEEE results as the reference's a + b, a − b.
    template <unsigned H>
    static batch in_register(batch v) {
        if constexpr (H >= W) {
            return v;
        } else {
            using ubatch = xsimd::batch<std::uint32_t, Arch>;
            const batch other = xsimd::swizzle(v, xsimd::make_batch_constant<ubatch, lane_xor<H>>());
            const batch flip = xsimd::bitwise_cast<batch>(ubatch(xsimd::make_batch_constant<ubatch, lane_sign<H>>()));
            return in_register<2 * H>(other + (v ^ flip));
        }
    }

    /// x ← gain · H(signs ⊙ x), block-wise.
    static void forward(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        transform(x, n, block, [&](batch v, std::size_t i) { return v * batch::load_unaligned(signs + i); },
                  [&](batch v, std::size_t) { return v * batch(gain); });
    }

    /// x ← signs ⊙ (gain · H x), block-wise.
    static void inverse(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        transform(x, n, block, [](batch v, std::size_t) { return v; },
                  [&](batch v, std::size_t i) { return v * batch(gain) * batch::load_unaligned(signs + i); });
    }

private:
    /// Batches a sub-block keeps in registers (all passes with h < max_regs · W run there).
    static constexpr std::size_t max_regs = 16;

    /// x ← post(H(pre(x))) per block of `block` floats (block ≥ W, power of two; n % block == 0); pre and post map a
    /// batch and its float offset in x. Sub-blocks of up to max_regs batches are transformed in registers, loaded
    /// and stored once; larger blocks finish their passes h ≥ max_regs · W in memory.
    template <class Pre, class Post>
    static void transform(float* x, std::size_t n, std::size_t block, Pre pre, Post post) {
        const std::size_t sub = block < max_regs * W ? block : max_regs * W;
        auto identity = [](batch v, std::size_t) { return v; };
        for (std::size_t base = 0; base < n; base += sub) {
            if (sub == block)
                in_registers(x, base, sub / W, pre, post);
            else
                in_registers(x, base, sub / W, pre, identity);
        }
        if (sub == block) return;
        for (std::size_t base = 0; base < n; base += block) {
            float* p = x + base;
            for (std::size_t h = sub; h < block; h *= 2)
                for (std::size_t i = 0; i < block; i += 2 * h)
                    for (std::size_t j = i; j < i + h; j += W) {
                        batch a = batch::load_unaligned(p + j), b = batch::load_unaligned(p + j + h);
                        (a + b).store_unaligned(p + j);
                        (a - b).store_unaligned(p + j + h);
                    }
        }
        for (std::size_t i = 0; i < n; i += W) post(batch::load_unaligned(x + i), i).store_unaligned(x + i);
    }

    template <class Pre, class Post>
    static void in_registers(float* x, std::size_t base, std::size_t regs, Pre pre, Post post) {
        switch (regs) {
            case 1: return sub_block<1>(x, base, pre, post);
            case 2: return sub_block<2>(x, base, pre, post);
            case 4: return sub_block<4>(x, base, pre, post);
            case 8: return sub_block<8>(x, base, pre, post);
            default: return sub_block<max_regs>(x, base, pre, post);
        }
    }

    /// The R·W floats at x + base: pre, every pass with h < R·W, post; one load and one store per float.
    template <std::size_t R, class Pre, class Post>
    static void sub_block(float* x, std::size_t base, Pre pre, Post post) {
        // Fully unrolled (GCC and Clang read this pragma) so that v[] lives in registers, not on the stack.
        batch v[R];
#pragma GCC unroll 16
        for (std::size_t r = 0; r < R; ++r) v[r] = in_register<1>(pre(batch::load_unaligned(x + base + r * W), base + r * W));
#pragma GCC unroll 4
        for (std::size_t h = 1; h < R; h *= 2)
#pragma GCC unroll 8
            for (std::size_t p = 0; p < R / 2; ++p) {  // the R/2 butterflies of this pass: (j, j + h), j + h < R
                const std::size_t j = p / h * 2 * h + p % h;
                const batch a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
#pragma GCC unroll 16
        for (std::size_t r = 0; r < R; ++r) post(v[r], base + r * W).store_unaligned(x + base + r * W);
    }
};

}  // namespace qamw::kernels
