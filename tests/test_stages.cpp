// Stage-level tests: f16/bf16 conversion, block layout rule, signs, FWHT (reference and every ISA), pairer, packer,
// scaler and normalizer.
#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <random>

using namespace qamw;

TEST_CASE("f16 and bf16 conversions are exact round trips and round to nearest even", "[stages][half]") {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        float f = detail::f16_to_f32(static_cast<std::uint16_t>(h));
        if (std::isnan(f)) {
            REQUIRE(std::isnan(detail::f16_to_f32(detail::f32_to_f16(f))));
            continue;
        }
        REQUIRE(detail::f32_to_f16(f) == h);
        float g = detail::bf16_to_f32(static_cast<std::uint16_t>(h));
        if (!std::isnan(g)) REQUIRE(detail::f32_to_bf16(g) == h);
    }
    REQUIRE(detail::f32_to_f16(65519.99f) == 0x7bff);  // below the midpoint to Inf
    REQUIRE(detail::f32_to_f16(65520.0f) == 0x7c00);   // ties to even: Inf
    REQUIRE(detail::f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);  // tie → even mantissa
    REQUIRE(detail::f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    REQUIRE(detail::f32_to_f16(0x1p-25f) == 0x0000);   // tie between 0 and the smallest subnormal → 0
    REQUIRE(detail::f32_to_f16(0x1.8p-25f) == 0x0001);
    REQUIRE(detail::f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
}

TEST_CASE("block layout: pad to a multiple of 32, largest power-of-two block <= B dividing it", "[stages][fwht]") {
    auto l = make_block_layout(4096, 256);
    REQUIRE((l.padded == 4096 && l.block == 256));
    l = make_block_layout(1536, 1024);
    REQUIRE((l.padded == 1536 && l.block == 512));
    l = make_block_layout(11008, 4096);
    REQUIRE((l.padded == 11008 && l.block == 256));
    l = make_block_layout(172, 256);  // stories260K's SwiGLU width
    REQUIRE((l.padded == 192 && l.block == 64));
    l = make_block_layout(1, 128);
    REQUIRE((l.padded == 32 && l.block == 32));
    l = make_block_layout(33, 4096);
    REQUIRE((l.padded == 64 && l.block == 64));
    REQUIRE_THROWS_AS(make_block_layout(64, 16), error);
    REQUIRE_THROWS_AS(make_block_layout(64, 8192), error);
    REQUIRE_THROWS_AS(make_block_layout(64, 96), error);
    REQUIRE_THROWS_AS(make_block_layout(0, 64), error);
}

TEST_CASE("Hadamard signs are a fixed function of the seed", "[stages][fwht]") {
    auto s = hadamard_signs(0, 128);
    std::uint64_t w0 = detail::splitmix64(0), w1 = detail::splitmix64(0x9e3779b97f4a7c15ull);
    REQUIRE(w0 == 0xe220a8397b1dcdafull);  // SplitMix64's published first output for seed 0
    for (int j = 0; j < 128; ++j) {
        std::uint64_t w = j < 64 ? w0 : w1;
        REQUIRE(s[j] == (((w >> (j % 64)) & 1) ? -1.0f : 1.0f));
    }
    REQUIRE(hadamard_signs(1, 64) != hadamard_signs(2, 64));
}

TEST_CASE("FWHT: the reference is orthogonal up to scale and its own inverse", "[stages][fwht]") {
    std::mt19937 rng(1);
    std::normal_distribution<float> g;
    for (std::size_t block : {32, 64, 256, 4096}) {
        std::size_t n = block * 2;
        std::vector<float> x(n), y;
        for (auto& v : x) v = g(rng);
        auto signs = hadamard_signs(7, static_cast<std::int64_t>(n));
        y = x;
        ref::fwht_forward(y.data(), signs.data(), n, block, 1.0f / std::sqrt(float(block)));
        double ex = 0, ey = 0;
        for (std::size_t i = 0; i < n; ++i) ex += double(x[i]) * x[i], ey += double(y[i]) * y[i];
        REQUIRE(ey == Approx(ex).epsilon(1e-5));
        ref::fwht_inverse(y.data(), signs.data(), n, block, 1.0f / std::sqrt(float(block)));
        for (std::size_t i = 0; i < n; ++i) REQUIRE(y[i] == Approx(x[i]).margin(1e-5));
    }
    // H of order 32 applied to e_0 is all ones; to e_1 alternates.
    std::vector<float> e(32, 0.0f), ones(32, 1.0f);
    e[1] = 1;
    ref::fwht_blocks(e.data(), 32, 32);
    for (int i = 0; i < 32; ++i) REQUIRE(e[i] == (i % 2 ? -1.0f : 1.0f));
}

TEST_CASE("FWHT kernels of every available ISA are bit-identical to the reference", "[stages][fwht][isa]") {
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> u(-3, 3);
    for (isa id : available_isas()) {
        const kernel_table* k = kernels_for(id);
        INFO("isa " << isa_name(id));
        for (std::size_t block = 32; block <= 4096; block *= 2)
            for (std::size_t nblocks : {1, 3}) {
                std::size_t n = block * nblocks;
                std::vector<float> x(n + 1), a, b;
                for (auto& v : x) v = u(rng);
                auto signs = hadamard_signs(block, static_cast<std::int64_t>(n + 1));
                for (std::size_t off : {0, 1}) {  // aligned and unaligned pointers
                    a.assign(x.begin(), x.end()), b = a;
                    ref::fwht_forward(a.data() + off, signs.data(), n, block, 0.37f);
                    k->fwht_forward(b.data() + off, signs.data(), n, block, 0.37f);
                    REQUIRE(std::memcmp(a.data(), b.data(), 4 * (n + 1)) == 0);
                    ref::fwht_inverse(a.data() + off, signs.data(), n, block, 1.7f);
                    k->fwht_inverse(b.data() + off, signs.data(), n, block, 1.7f);
                    REQUIRE(std::memcmp(a.data(), b.data(), 4 * (n + 1)) == 0);
                }
            }
    }
}

TEST_CASE("pairer splits and joins losslessly", "[stages][pairer]") {
    std::vector<float> t = {1, 2, 3, 4, 5, 6}, xs(3), ys(3), back(6);
    pair_split(t.data(), 3, xs.data(), ys.data());
    REQUIRE(xs == std::vector<float>{1, 3, 5});
    REQUIRE(ys == std::vector<float>{2, 4, 6});
    pair_join(xs.data(), ys.data(), 3, back.data());
    REQUIRE(back == t);
}

TEST_CASE("packer: little-endian bit order, exact size, round trip for every k", "[stages][packer]") {
    // k = 4: indices 0x1, 0x2, 0x3 → bytes 0x21, 0x03
    std::uint16_t a[3] = {1, 2, 3};
    std::uint8_t out[2];
    ref::pack(a, 3, 4, out);
    REQUIRE((out[0] == 0x21 && out[1] == 0x03));
    // k = 12: 0xabc, 0x123 → stream 0x123abc → bytes bc 3a 12
    std::uint16_t b[2] = {0xabc, 0x123};
    std::uint8_t out2[3];
    ref::pack(b, 2, 12, out2);
    REQUIRE((out2[0] == 0xbc && out2[1] == 0x3a && out2[2] == 0x12));
    // k = 11: 0x7ff, 0x001 → stream bits 0..10 set, bit 11 set → ff 0f 00
    std::uint16_t c[2] = {0x7ff, 0x001};
    std::uint8_t out3[3];
    ref::pack(c, 2, 11, out3);
    REQUIRE((out3[0] == 0xff && out3[1] == 0x0f && out3[2] == 0x00));

    std::mt19937 rng(3);
    for (int k = 4; k <= 12; ++k)
        for (std::size_t m : {0, 1, 2, 7, 8, 9, 63, 64, 65, 1000}) {
            std::vector<std::uint16_t> idx(m), back(m);
            for (auto& v : idx) v = static_cast<std::uint16_t>(rng() & ((1u << k) - 1));
            std::vector<std::uint8_t> bytes(packed_bytes(m, k));
            ref::pack(idx.data(), m, k, bytes.data());
            ref::unpack(bytes.data(), m, k, back.data());
            REQUIRE(back == idx);
            if (m * k % 8) REQUIRE((bytes.back() >> (m * k % 8)) == 0);  // unused high bits are zero
        }
}

TEST_CASE("scaler stores f16 scales and rejects out-of-range ones", "[stages][scaler]") {
    float s[3] = {0.5f, 2.0f, 1.0f / 3};
    auto st = store_col_scales(s, 3);
    auto v = col_scale_values(st);
    REQUIRE(v[0] == 0.5f);
    REQUIRE(v[2] == Approx(1.0f / 3).epsilon(1e-3));
    float x[3] = {1, 1, 1};
    scale_columns(x, v.data(), 3);
    unscale_columns(x, v.data(), 3);
    REQUIRE((x[0] == 1 && x[1] == 1));
    for (float bad : {0.0f, -1.0f, 1e6f, std::nanf(""), 1e-6f}) REQUIRE_THROWS_AS(store_col_scales(&bad, 1), error);
}

TEST_CASE("normalizer: shared exponent keeps stored norms in range, zero stays zero", "[stages][normalizer]") {
    // Full f16 precision (2^-11 relative) for every norm within 2^29 of the largest; beyond, rows fade to zero.
    auto s = store_norms({0.0, 1e-3, 2.5, 3e4});
    REQUIRE(s.value(0) == 0.0f);
    REQUIRE(s.value(1) == Approx(1e-3).epsilon(1e-3));
    REQUIRE(s.value(2) == Approx(2.5).epsilon(1e-3));
    REQUIRE(s.value(3) == Approx(3e4).epsilon(1e-3));
    auto big = store_norms({7e9, 7e9 * 0x1p-28});
    REQUIRE(big.value(0) == Approx(7e9).epsilon(1e-3));
    REQUIRE(big.value(1) == Approx(7e9 * 0x1p-28).epsilon(1e-3));
    REQUIRE(big.value(0) <= 32768.0f * std::ldexp(1.0f, big.exp2));
    float row[4] = {3, 4, 0, 0};
    REQUIRE(row_norm(row, 4) == 5.0);
}
