// qamw/kernels/fwht.hpp — SIMD kernel of the randomized block Hadamard stage (stages/fwht.hpp has the math and the
// scalar reference). Bit-exact with qamw::ref: the same butterfly passes in the same order, one IEEE operation each.
//
// Passes with distance h ≥ W (the batch width) pair whole batches; passes with h < W pair lanes inside one batch:
// v' = select(lane & h, swizzle(v, lane ^ h) − v, v + swizzle(v, lane ^ h)). Cost per block of B floats: log2(B)
// passes of B/W adds or subtracts, all in L1; signs and gain are one multiply per float each.
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
    template <unsigned H>
    struct lane_upper {
        static constexpr bool get(std::size_t i, std::size_t) { return (i & H) != 0; }
    };

    template <unsigned H>
    static batch in_register(batch v) {
        if constexpr (H >= W) {
            return v;
        } else {
            auto other = xsimd::swizzle(v, xsimd::make_batch_constant<xsimd::batch<std::uint32_t, Arch>, lane_xor<H>>());
            auto upper = xsimd::make_batch_bool_constant<batch, lane_upper<H>>();
            return in_register<2 * H>(xsimd::select(upper, other - v, v + other));
        }
    }

    /// Unnormalized butterflies on each block of `block` floats of x[0, n) (block ≥ W, power of two; n % block == 0).
    static void butterflies(float* x, std::size_t n, std::size_t block) {
        for (std::size_t base = 0; base < n; base += block) {
            float* p = x + base;
            for (std::size_t i = 0; i < block; i += W) in_register<1>(batch::load_unaligned(p + i)).store_unaligned(p + i);
            for (std::size_t h = W; h < block; h *= 2)
                for (std::size_t i = 0; i < block; i += 2 * h)
                    for (std::size_t j = i; j < i + h; j += W) {
                        batch a = batch::load_unaligned(p + j), b = batch::load_unaligned(p + j + h);
                        (a + b).store_unaligned(p + j);
                        (a - b).store_unaligned(p + j + h);
                    }
        }
    }

    /// x ← gain · H(signs ⊙ x), block-wise.
    static void forward(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        for (std::size_t i = 0; i < n; i += W)
            (batch::load_unaligned(x + i) * batch::load_unaligned(signs + i)).store_unaligned(x + i);
        butterflies(x, n, block);
        for (std::size_t i = 0; i < n; i += W) (batch::load_unaligned(x + i) * batch(gain)).store_unaligned(x + i);
    }

    /// x ← signs ⊙ (gain · H x), block-wise.
    static void inverse(float* x, const float* signs, std::size_t n, std::size_t block, float gain) {
        butterflies(x, n, block);
        for (std::size_t i = 0; i < n; i += W)
            (batch::load_unaligned(x + i) * batch(gain) * batch::load_unaligned(signs + i)).store_unaligned(x + i);
    }
};

}  // namespace qamw::kernels
