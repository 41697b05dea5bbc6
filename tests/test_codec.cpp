// Codec tests: the whole encode → decode pipeline against the codebook's distortion, against scalar Lloyd-Max at the
// same rate, determinism across runs, thread counts and ISAs, and bad input.
#include "common/metrics.hpp"

#include "baselines/scalar_lloyd.hpp"
#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>
#include "common/parallel.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace qamw;

namespace {

/// The same pipeline with a scalar Lloyd-Max quantizer of k/2 bits per rotated coordinate instead of the 2D codebook.
std::vector<float> scalar_pipeline(const std::vector<float>& w, std::int64_t rows, std::int64_t cols, int bits) {
    baselines::scalar_lloyd q(bits);
    auto l = make_block_layout(cols, 256);
    auto signs = hadamard_signs(params{}.seed, l.padded);
    std::vector<float> out(w.size()), row(static_cast<std::size_t>(l.padded));
    for (std::int64_t i = 0; i < rows; ++i) {
        std::fill(row.begin(), row.end(), 0.0f);
        std::copy(w.begin() + i * cols, w.begin() + (i + 1) * cols, row.begin());
        double r = row_norm(row.data(), static_cast<std::size_t>(cols));
        double unit = std::sqrt(double(l.padded) / l.block);
        ref::fwht_forward(row.data(), signs.data(), row.size(), l.block, float(unit / r));
        for (auto& v : row) v = q.decode(q.encode(v));
        ref::fwht_inverse(row.data(), signs.data(), row.size(), l.block, float(r / std::sqrt(double(l.padded) * l.block)));
        std::copy(row.begin(), row.begin() + cols, out.begin() + i * cols);
    }
    return out;
}

}  // namespace

TEST_CASE("encode→decode of Gaussian rows: relative MSE equals the codebook MSE within 2%", "[codec][quality]") {
    const std::int64_t rows = 64, cols = 4096;
    auto w = tools::gaussian_vector(5, rows * cols, 0.02);
    for (int k = min_bits; k <= max_bits; ++k) {
        params p;
        p.bits = k;
        auto q = encode(w.data(), rows, cols, p);
        double rel = tools::relative_mse(w, decode(q));
        double expect = tools::codebook_mse(codebook(k), 2'000'000, 99);
        INFO("k=" << k << " relative MSE " << rel << " codebook MSE " << expect);
        CHECK(rel == Approx(expect).epsilon(0.02));
        CHECK(q.bits_per_weight() == Approx(k / 2.0 + 16.0 / cols + 16.0 / (rows * cols) * 2).epsilon(1e-3));
    }
}

TEST_CASE("2D coding at k bits per pair beats scalar Lloyd-Max at k/2 bits per coordinate", "[codec][quality]") {
    const std::int64_t rows = 32, cols = 4096;
    auto w = tools::gaussian_vector(6, rows * cols);
    for (int k : {4, 6, 8, 10, 12}) {
        params p;
        p.bits = k;
        double mse2d = tools::relative_mse(w, decode(encode(w.data(), rows, cols, p)));
        double mse1d = tools::relative_mse(w, scalar_pipeline(w, rows, cols, k / 2));
        WARN("k=" << k << ": 2D " << mse2d << " vs scalar " << mse1d << " (" << 10 * std::log10(mse1d / mse2d)
                  << " dB better)");
        CHECK(mse2d < mse1d * 0.93);  // at least 0.3 dB
    }
}

TEST_CASE("scalar Lloyd-Max reproduces the published Gaussian MSEs", "[baselines]") {
    // Published values (J. Max, "Quantizing for minimum distortion", IRE Trans. Inf. Theory, 1960); the converged 5-bit quantizer measures 0.0025047, 0.22% above the table's 0.002499.
    const double known[] = {0.3634, 0.1175, 0.03454, 0.009497, 0.002499};
    for (int b = 1; b <= 5; ++b) CHECK(baselines::scalar_lloyd(b).mse() == Approx(known[b - 1]).epsilon(3e-3));
}

TEST_CASE("encoding is deterministic across runs, thread counts and instruction sets", "[codec][determinism]") {
    const std::int64_t rows = 37, cols = 1000;
    auto w = tools::gaussian_vector(8, rows * cols);
    params p;
    p.bits = 11;
    p.block = 128;
    auto base = encode(w.data(), rows, cols, p, nullptr, serial{}, ref_kernels{});
    auto base_dec = decode(base, serial{}, ref_kernels{});
    for (isa id : available_isas())
        for (int threads : {1, 2, 3}) {
            const kernel_table& k = *kernels_for(id);
            auto q = encode(w.data(), rows, cols, p, nullptr, on_threads{threads}, k);
            INFO("isa " << isa_name(id) << " threads " << threads);
            REQUIRE(q.codes == base.codes);
            REQUIRE(q.norms.f16 == base.norms.f16);
            auto d = decode(q, on_threads{threads}, k);
            REQUIRE(std::memcmp(d.data(), base_dec.data(), d.size() * 4) == 0);
        }
}

TEST_CASE("f16 and bf16 inputs encode like their f32 values", "[codec]") {
    const std::int64_t rows = 4, cols = 96;
    auto w = tools::gaussian_vector(9, rows * cols);
    std::vector<std::uint16_t> h(w.size()), b(w.size());
    std::vector<float> hf(w.size()), bf(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        h[i] = detail::f32_to_f16(w[i]), hf[i] = detail::f16_to_f32(h[i]);
        b[i] = detail::f32_to_bf16(w[i]), bf[i] = detail::bf16_to_f32(b[i]);
    }
    params p;
    REQUIRE(encode(h.data(), dtype::f16, rows, cols, p).codes == encode(hf.data(), rows, cols, p).codes);
    REQUIRE(encode(b.data(), dtype::bf16, rows, cols, p).codes == encode(bf.data(), rows, cols, p).codes);
}

TEST_CASE("encode with a caller-built codebook equals the convenience overload; a wrong k is refused", "[codec]") {
    const std::int64_t rows = 8, cols = 256;
    auto w = tools::gaussian_vector(11, rows * cols);
    params p;
    p.bits = 9;
    const codebook cb(9), other(8);
    REQUIRE(encode(cb, w.data(), rows, cols, p).codes == encode(w.data(), rows, cols, p).codes);
    REQUIRE_THROWS_WITH(encode(other, w.data(), rows, cols, p), Catch::Contains("lm2d-k8 given for lm2d-k9"));
}

TEST_CASE("zero rows decode to exact zeros; small and odd shapes work", "[codec][shapes]") {
    for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {3, 5}, {2, 31}, {2, 33}, {5, 172}, {1, 1000}}) {
        auto w = tools::gaussian_vector(10, std::size_t(rows) * cols);
        std::fill(w.begin(), w.begin() + cols, 0.0f);  // row 0 is zero
        for (int k : {4, 8, 12}) {
            params p;
            p.bits = k;
            auto q = encode(w.data(), rows, cols, p);
            REQUIRE(q.codes.size() == std::size_t(rows) * packed_bytes(std::size_t((cols + 31) / 32 * 16), k));
            auto d = decode(q);
            for (int j = 0; j < cols; ++j) {
                REQUIRE(d[j] == 0.0f);
                REQUIRE_FALSE(std::signbit(d[j]));
            }
            if (rows > 1 && cols >= 32) CHECK(tools::relative_mse(w, d) < 0.35);
        }
    }
    auto empty = encode(static_cast<const float*>(nullptr), 0, 8, params{});
    REQUIRE(decode(empty).empty());
}

TEST_CASE("column scales are applied and undone", "[codec][scaler]") {
    const std::int64_t rows = 16, cols = 512;
    auto w = tools::gaussian_vector(11, rows * cols);
    std::vector<float> s(cols);
    const float levels[3] = {0.5f, 1.0f, 2.0f};
    for (int j = 0; j < cols; ++j) s[j] = levels[j % 3];
    params p;
    auto plain = tools::relative_mse(w, decode(encode(w.data(), rows, cols, p)));
    auto q = encode(w.data(), rows, cols, p, s.data());
    REQUIRE(q.col_scales.size() == std::size_t(cols));
    // Error is uniform over the scaled columns, then divided by s_j: E[s²]·E[1/s²] = 1.75² times the plain error.
    double rel = tools::relative_mse(w, decode(q));
    CHECK(rel == Approx(plain * 1.75 * 1.75).epsilon(0.1));
    // Scaling column j up makes its relative error smaller than that of a scaled-down column.
    auto d = decode(q);
    double big = 0, small = 0, nb = 0, ns = 0;
    for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
            double e = std::pow(d[i * cols + j] - w[i * cols + j], 2), v = std::pow(w[i * cols + j], 2);
            if (j % 3 == 2) big += e, nb += v;
            if (j % 3 == 0) small += e, ns += v;
        }
    CHECK(big / nb < small / ns);
}

TEST_CASE("bad input gives qamw::error naming the problem", "[codec][errors]") {
    std::vector<float> w(4 * 40, 0.5f);
    params p;
    w[2 * 40 + 7] = std::nanf("");
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 40, p), Catch::Contains("row 2, column 7 is NaN"));
    w[2 * 40 + 7] = 0.5f;
    w[3 * 40 + 39] = -INFINITY;
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 40, p), Catch::Contains("row 3, column 39 is Inf"));
    w[3 * 40 + 39] = 0.5f;
    std::vector<std::uint16_t> h(4 * 40, 0x3c00);
    h[5] = 0x7e00;
    REQUIRE_THROWS_WITH(encode(h.data(), dtype::f16, 4, 40, p), Catch::Contains("row 0, column 5 is NaN"));
    p.bits = 3;
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 40, p), Catch::Contains("outside [4, 12]"));
    p.bits = 13;
    REQUIRE_THROWS_AS(encode(w.data(), 4, 40, p), error);
    p.bits = 8;
    p.block = 48;
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 40, p), Catch::Contains("power of two"));
    p.block = 256;
    REQUIRE_THROWS_AS(encode(w.data(), 4, 0, p), error);
    REQUIRE_THROWS_AS(encode(w.data(), -1, 40, p), error);
    std::vector<float> bad_scale(40, 1.0f);
    bad_scale[3] = 0;
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 40, p, bad_scale.data()), Catch::Contains("column scale 3"));

    auto q = encode(w.data(), 4, 40, p);
    auto broken = q;
    broken.codes.pop_back();
    REQUIRE_THROWS_WITH(decode(broken), Catch::Contains("codes hold"));
    broken = q;
    broken.layout.block = 128;  // 64 padded columns cannot hold a block of 128
    REQUIRE_THROWS_WITH(decode(broken), Catch::Contains("padding rule"));
    broken = q;
    broken.norms.f16[1] = 0x7c00;
    REQUIRE_THROWS_AS(decode(broken), error);
}
