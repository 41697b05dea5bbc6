// Integer-domain kernels (kernels/int_format.hpp, int_product.hpp): the formats' invariants; every integer row kernel
// of every available ISA against its scalar reference (to float rounding of the outer sum) and against the exact f32
// dot within the error bound stated in int_format.hpp, for every k, several lengths (including partial 64-pair chunks),
// zero and outlier blocks; the engine's integer path (qamw/engine.hpp) against the f32 fused GEMV on an encoded matrix.
// (Row ranges, batches, overread and misuse of the engine's integer path: tests/test_engine.cpp.)
#include "common/metrics.hpp"
#include "common/product.hpp"

#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>

using namespace qamw;

namespace {

struct operands {
    std::vector<float> xt;          // 2·pairs
    std::vector<std::uint8_t> codes;  // rows · row_bytes + overread
};

operands make_operands(tools::rng& r, std::size_t rows, std::size_t pairs, int k) {
    operands o;
    o.xt.resize(2 * pairs);
    for (std::size_t i = 0; i < o.xt.size(); ++i) o.xt[i] = float(r.normal());
    // q8 (32 floats per scale): block 1 zero, block 2 with an outlier, block 3 scaled down; q16 (128 floats per
    // scale) likewise blocks 1, 2, 3: per-block scales must handle each
    if (pairs >= 32) std::fill(o.xt.begin() + 32, o.xt.begin() + 64, 0.0f);
    if (pairs >= 48) o.xt[70] = 40.0f;
    if (pairs >= 64) for (std::size_t i = 96; i < 128; ++i) o.xt[i] *= 1e-3f;
    if (pairs >= 128) std::fill(o.xt.begin() + 128, o.xt.begin() + 256, 0.0f);
    if (pairs >= 192) o.xt[300] = -40.0f;
    if (pairs >= 256) for (std::size_t i = 384; i < 512; ++i) o.xt[i] *= 1e-3f;
    o.codes.resize(rows * packed_bytes(pairs, k) + kernels::overread);
    for (auto& c : o.codes) c = static_cast<std::uint8_t>(r.next());
    return o;
}

/// The stated bound of |integer path − exact f32 dot| (int_format.hpp) for one row, plus float slack.
double stated_bound(const std::uint8_t* c, std::size_t pairs, int k, const float* table2, const float* xt, bool q8,
                    const int_codebook& cb, const std::vector<float>& d_of_pair) {
    const double sc = q8 ? cb.s8 : cb.s16;
    double b = 0, mag = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
        const std::uint16_t i = ref::unpack_one(c, p, k);
        for (int j = 0; j < 2; ++j) {
            const double cw = table2[2 * i + j], x = xt[2 * p + j], d = d_of_pair[p];
            b += sc / 2 * std::fabs(x) + std::fabs(cw) * d / 2 + sc * d / 4;
            mag += std::fabs(cw * x);
        }
    }
    return b + 1e-5 * mag;
}

/// A table of the d8 family (int_codebook) on the grid `grid`: random base points (x, y) = grid · (u, v), 255 ≥ u > v ≥ 1,
/// and their images T_s in code order.
std::vector<float> grid_d8_table(tools::rng& r, int k, float grid) {
    const std::size_t n = std::size_t{1} << k, nb = n / 8;
    std::vector<float> t(2 * n);
    for (std::size_t b = 0; b < nb; ++b) {
        const int u = 2 + int(r.next() % 254), v = 1 + int(r.next() % std::uint64_t(u - 1));
        t[2 * b] = grid * float(u), t[2 * b + 1] = grid * float(v);
    }
    for (std::size_t c = nb; c < n; ++c) {
        const std::size_t s = c / nb, b = c % nb;
        float x = t[2 * b], y = t[2 * b + 1];
        d8_transform(int(s), x, y);
        t[2 * c] = x, t[2 * c + 1] = y;
    }
    return t;
}

}  // namespace

TEST_CASE("int codebook and activation formats", "[kernels][int]") {
    for (int k = min_bits; k <= max_bits; ++k) {
        auto cb = std::make_unique<int_codebook>();
        make_int_codebook(lm2d_table(k), k, *cb);
        const std::size_t n = std::size_t{1} << k;
        int max16 = 0;
        for (std::size_t i = 0; i < 2 * n; ++i) {
            max16 = std::max(max16, std::abs(int(cb->xy16[i])));
            REQUIRE(std::fabs(cb->s16 * cb->xy16[i] - lm2d_table(k)[i]) <= cb->s16 / 2 * 1.0001);
        }
        REQUIRE(max16 == q16_code_max);
        if (k <= 8)
            for (std::size_t i = 0; i < 256; ++i) {
                const std::size_t j = i % n;
                REQUIRE(std::fabs(cb->s8 * (cb->ux8[i] - 128) - lm2d_table(k)[2 * j]) <= cb->s8 / 2 * 1.0001);
                REQUIRE(std::fabs(cb->s8 * (cb->uy8[i] - 128) - lm2d_table(k)[2 * j + 1]) <= cb->s8 / 2 * 1.0001);
            }
    }
    tools::rng r(5);
    for (std::size_t pairs : {16, 48, 64, 80, 272}) {
        auto o = make_operands(r, 1, pairs, 8);
        std::vector<block_q8a> a8(q8a_blocks(pairs));
        std::vector<block_q16a> a16(q16a_blocks(pairs));
        const float bias = quantize_q8a(o.xt.data(), pairs, a8.data());
        quantize_q16a(o.xt.data(), pairs, a16.data());
        double want_bias = 0;
        for (std::size_t p = 0; p < q8a_blocks(pairs) * 64; ++p) {
            const block_q8a& b = a8[p / 64];
            const float d = b.d[(p % 64) / 16];
            want_bias += 128.0 * d * (b.x[p % 64] + b.y[p % 64]);
            if (p >= pairs) {
                REQUIRE((d == 0 && b.x[p % 64] == 0 && b.y[p % 64] == 0));
                continue;
            }
            REQUIRE(std::abs(int(b.x[p % 64])) <= 127);
            REQUIRE(std::fabs(d * b.x[p % 64] - o.xt[2 * p]) <= d / 2 * 1.0001 + 1e-30);
            REQUIRE(std::fabs(d * b.y[p % 64] - o.xt[2 * p + 1]) <= d / 2 * 1.0001 + 1e-30);
        }
        // q16: every element within half a step, |q| ≤ q16_act_max reached by each nonzero block's largest element;
        // pairs past the row and the padding bytes 0
        for (std::size_t b = 0; b < a16.size(); ++b) {
            const block_q16a& c = a16[b];
            int qmax = 0;
            for (std::size_t i = 0; i < 2 * q16_block_pairs; ++i) {
                const std::size_t e = 2 * q16_block_pairs * b + i;
                qmax = std::max(qmax, std::abs(int(c.q[i])));
                if (e >= 2 * pairs) REQUIRE(c.q[i] == 0);
                else REQUIRE(std::fabs(c.d * c.q[i] - o.xt[e]) <= c.d / 2 * 1.0001 + 1e-30);
            }
            REQUIRE(qmax == (c.d > 0 ? q16_act_max : 0));
            for (std::uint8_t z : c.zero) REQUIRE(z == 0);
        }
        REQUIRE(bias == Approx(want_bias).epsilon(1e-5).margin(1e-3));
    }
}

TEST_CASE("the activations' rounding is std::lround exactly, halves and their neighbours included", "[kernels][int]") {
    tools::rng r(9);
    for (double h = -4096; h <= 4096; h += 0.5)
        for (double v : {h, std::nextafter(h, 1e9), std::nextafter(h, -1e9)}) {
            REQUIRE(detail::round_half_away(v) == std::lround(v));
#if defined(__x86_64__) || defined(_M_X64)
            // the x86 quantizers' form (kernels/int_quantize.hpp), on the same values and ±(0.5 − 2^−54)
            for (double w : {v, std::nextafter(0.5, 0.0), -std::nextafter(0.5, 0.0)})
                REQUIRE(std::trunc(w + std::copysign(kernels::x86::below_half, w)) == double(std::lround(w)));
#endif
        }
    for (int i = 0; i < 100000; ++i) {
        const double v = (r.uniform() - 0.5) * 9000.0;
        REQUIRE(detail::round_half_away(v) == std::lround(v));
    }
}

namespace {

/// Activations that test the quantizers' edges, 2·pairs floats (pairs % 16 == 0), by `kind`:
///   0 Gaussian;  1 exact ties: per 16 pairs a max of ±127 (q8 inv = 1) or, per 64 pairs, ±4095 (q16 inv = 1) and
///   every other element a random h + 0.5 or its float neighbours, so the scaled products are exactly at or next to
///   .5; 2 magnitudes: blocks of huge values (up to FLT_MAX), of denormals only, of zeros and −0, a huge outlier among
///   tiny values, the max at the block's last element, negative maxima.
std::vector<float> edge_activation(tools::rng& r, std::size_t pairs, int kind) {
    std::vector<float> xt(2 * pairs);
    for (float& v : xt) v = float(r.normal());
    if (kind == 1) {
        for (std::size_t i = 0; i < xt.size(); ++i) {
            const bool q16 = (i / 32) % 2;  // alternate 16-pair runs: q8-exact, q16-exact
            const float top = q16 ? float(q16_act_max) : 127.0f;
            const float h = std::floor(float(r.uniform()) * top) + 0.5f;
            const float t = std::min(h, top - 0.5f);
            const int which = int(r.next() % 4);
            const float v = which == 0 ? t : which == 1 ? std::nextafter(t, 0.0f) : which == 2 ? std::nextafter(t, 1e9f) : std::floor(t);
            xt[i] = r.uniform() < 0.5 ? -v : v;
        }
        // the scales: ±top at a block's first element (q8: every 32 floats; q16: every 128, larger than any tie there)
        for (std::size_t i = 0; i < xt.size(); i += 32) xt[i] = (i / 32) % 2 ? -127.0f : 127.0f;
        for (std::size_t i = 0; i < xt.size(); i += 128) xt[i] = float(q16_act_max);
    } else if (kind == 2) {
        for (std::size_t b = 0; b * 32 < xt.size(); ++b) {
            float* v = xt.data() + 32 * b;
            switch (b % 7) {
                case 0: for (int i = 0; i < 32; ++i) v[i] *= 1e37f; v[31] = -FLT_MAX; break;  // the max last, negative
                case 1: for (int i = 0; i < 32; ++i) v[i] = float(r.normal()) * 1e-40f; v[5] = 1.4e-45f; break;  // denormals
                case 2: for (int i = 0; i < 32; ++i) v[i] = i % 2 ? 0.0f : -0.0f; break;
                case 3: for (int i = 0; i < 32; ++i) v[i] *= 1e-30f; v[17] = 3e30f; break;  // an outlier among tiny values
                case 4: for (int i = 0; i < 32; ++i) v[i] = float(r.normal()) * 1e-39f; v[30] = -FLT_MIN; break;
                case 5: v[31] = 1e6f; break;
                default: break;
            }
        }
    }
    return xt;
}

}  // namespace

TEST_CASE("activation quantizers: every kernel set gives the references' bytes, scales and bias", "[kernels][int][isa]") {
    tools::rng r(23);
    for (isa id : available_isas()) {
        const kernel_table& t = *kernels_for(id);
        REQUIRE(t.quantize_q8a != nullptr);
        REQUIRE(t.quantize_q16a != nullptr);
        for (std::size_t pairs : {16, 32, 48, 64, 80, 112, 272, 2000, 2048, 7168})
            for (int kind : {0, 1, 2}) {
                INFO("isa " << isa_name(id) << " pairs " << pairs << " kind " << kind);
                const std::vector<float> xt = edge_activation(r, pairs, kind);
                // outputs prefilled with different garbage: every byte the reference writes must be written
                std::vector<block_q8a> want8(q8a_blocks(pairs)), got8(q8a_blocks(pairs));
                std::vector<block_q16a> want16(q16a_blocks(pairs)), got16(q16a_blocks(pairs));
                std::memset(want8.data(), 0x5a, want8.size() * sizeof(block_q8a));
                std::memset(got8.data(), 0xa5, got8.size() * sizeof(block_q8a));
                std::memset(want16.data(), 0x5a, want16.size() * sizeof(block_q16a));
                std::memset(got16.data(), 0xa5, got16.size() * sizeof(block_q16a));
                const float want_bias = quantize_q8a(xt.data(), pairs, want8.data());
                const float got_bias = t.quantize_q8a(xt.data(), pairs, got8.data());
                quantize_q16a(xt.data(), pairs, want16.data());
                t.quantize_q16a(xt.data(), pairs, got16.data());
                REQUIRE(std::memcmp(&got_bias, &want_bias, sizeof(float)) == 0);
                REQUIRE(std::memcmp(got8.data(), want8.data(), want8.size() * sizeof(block_q8a)) == 0);
                REQUIRE(std::memcmp(got16.data(), want16.data(), want16.size() * sizeof(block_q16a)) == 0);
                if (kind == 1) {  // the ties are there: some element at exactly ±(h + 0.5) after scaling, rounded away
                    int ties8 = 0, ties16 = 0;
                    for (std::size_t i = 0; i < xt.size(); ++i) {
                        const block_q8a& b8 = want8[i / 128];
                        const std::size_t p = (i / 2) % 64;
                        const float d8 = b8.d[p / 16];
                        if (d8 == 1.0f && xt[i] != std::floor(xt[i]) && xt[i] - std::trunc(xt[i]) == std::copysign(0.5f, xt[i])) {
                            ++ties8;
                            REQUIRE(int(i % 2 ? b8.y[p] : b8.x[p]) == int(std::lround(xt[i])));
                        }
                        const block_q16a& b16 = want16[i / 128];
                        if (b16.d == 1.0f && xt[i] - std::trunc(xt[i]) == std::copysign(0.5f, xt[i])) {
                            ++ties16;
                            REQUIRE(int(b16.q[i % 128]) == int(std::lround(xt[i])));
                        }
                    }
                    if (pairs >= 64) REQUIRE((ties8 > 0 && ties16 > 0));
                }
            }
    }
}

TEST_CASE("activation quantizers: a NaN or Inf is refused with the reference's error, every kernel set", "[kernels][int][isa]") {
    tools::rng r(29);
    const std::size_t pairs = 272;  // 5 q8 blocks (the last partial), 5 q16 blocks (the last of 16 pairs)
    auto message = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const error& e) {
            REQUIRE(e.code() == errc::non_finite);
            return e.what();
        }
        FAIL("a non-finite activation was quantized");
        return {};
    };
    for (float bad : {std::nanf(""), -std::nanf(""), INFINITY, -INFINITY})
        // the first, a middle, the last element of a block; one in an all-zero block; the very last element
        for (std::size_t at : {std::size_t{0}, std::size_t{37}, std::size_t{127}, std::size_t{200}, 2 * pairs - 1}) {
            std::vector<float> xt(2 * pairs);
            for (float& v : xt) v = float(r.normal());
            std::fill(xt.begin() + 192, xt.begin() + 224, 0.0f);
            xt[at] = bad;
            if (at + 40 < xt.size()) xt[at + 40] = -bad;  // a second bad element later: the first is named
            std::vector<block_q8a> a8(q8a_blocks(pairs));
            std::vector<block_q16a> a16(q16a_blocks(pairs));
            const std::string want8 = message([&] { quantize_q8a(xt.data(), pairs, a8.data()); });
            const std::string want16 = message([&] { quantize_q16a(xt.data(), pairs, a16.data()); });
            REQUIRE_THAT(want8, Catch::Contains("xt[" + std::to_string(at) + "]"));
            REQUIRE(want16 == want8);
            for (isa id : available_isas()) {
                INFO("isa " << isa_name(id) << " value " << bad << " at " << at);
                const kernel_table& t = *kernels_for(id);
                REQUIRE(message([&] { t.quantize_q8a(xt.data(), pairs, a8.data()); }) == want8);
                REQUIRE(message([&] { t.quantize_q16a(xt.data(), pairs, a16.data()); }) == want16);
            }
        }
}

TEST_CASE("integer row kernels: every ISA against the references and the exact f32 dot, every k", "[kernels][int][isa]") {
    tools::rng r(11);
    for (isa id : available_isas()) {
        const kernel_table& t = *kernels_for(id);
        INFO("isa " << isa_name(id));
        REQUIRE(t.dot_rows_q16 != nullptr);
        for (int k = min_bits; k <= max_bits; ++k) {
            INFO("k " << k);
            const float* table2 = lm2d_table(k);
            auto cb = std::make_unique<int_codebook>();
            make_int_codebook(table2, k, *cb);
            // lengths: one scale block, partial and whole 64-pair chunks, long rows with and without a partial chunk
            for (std::size_t pairs : {16, 32, 48, 64, 80, 112, 272, 2000, 2048}) {
                INFO("pairs " << pairs);
                const std::size_t rows = 3, rb = packed_bytes(pairs, k);
                auto o = make_operands(r, rows, pairs, k);
                std::vector<block_q8a> a8(q8a_blocks(pairs));
                std::vector<block_q16a> a16(q16a_blocks(pairs));
                const float bias = quantize_q8a(o.xt.data(), pairs, a8.data());
                quantize_q16a(o.xt.data(), pairs, a16.data());
                std::vector<float> d8(pairs), d16(pairs);
                for (std::size_t p = 0; p < pairs; ++p) d8[p] = a8[p / 64].d[(p % 64) / 16], d16[p] = a16[p / 64].d;
                for (bool q8 : {false, true}) {
                    if (q8 && (k > 8 || !t.dot_rows_q8)) continue;
                    INFO((q8 ? "q8" : "q16"));
                    std::vector<float> want(rows), got(rows);
                    if (q8) {
                        // q8 kernels read no byte past the codes: an exact-size copy (AddressSanitizer sees any overread)
                        const std::vector<std::uint8_t> exact(o.codes.begin(), o.codes.begin() + std::ptrdiff_t(rows * rb));
                        ref::dot_rows_q8(exact.data(), rb, rows, pairs, k, *cb, a8.data(), bias, want.data());
                        t.dot_rows_q8(exact.data(), rb, rows, pairs, k, *cb, a8.data(), bias, got.data());
                    } else {
                        ref::dot_rows_q16(o.codes.data(), rb, rows, pairs, k, *cb, a16.data(), want.data());
                        t.dot_rows_q16(o.codes.data(), rb, rows, pairs, k, *cb, a16.data(), got.data());
                        // the batched product's form: words looked up once (exactly the reference's), the same bits
                        std::vector<std::int32_t> words(rows * pairs), ref_words(rows * pairs);
                        for (std::size_t i = 0; i < rows; ++i) {
                            t.lookup_q16(o.codes.data() + i * rb, pairs, k, *cb, words.data() + i * pairs);
                            ref::lookup_q16(o.codes.data() + i * rb, pairs, k, *cb, ref_words.data() + i * pairs);
                        }
                        REQUIRE(words == ref_words);
                        std::vector<float> from_words(rows);
                        t.dot_words_q16(words.data(), pairs, rows, pairs, *cb, a16.data(), 0, 1, from_words.data(), rows);
                        REQUIRE(std::memcmp(from_words.data(), got.data(), 4 * rows) == 0);
                    }
                    for (std::size_t i = 0; i < rows; ++i) {
                        const std::uint8_t* c = o.codes.data() + i * rb;
                        // magnitude of the kernel's float sums: Σ d·|int terms| (plus the q8 offset's share)
                        double mag = 0;
                        for (std::size_t p = 0; p < pairs; ++p) {
                            const std::uint16_t ci = ref::unpack_one(c, p, k);
                            if (q8) {
                                const block_q8a& b = a8[p / 64];
                                mag += d8[p] * (std::abs(cb->ux8[ci] * b.x[p % 64]) + std::abs(cb->uy8[ci] * b.y[p % 64]));
                            } else {
                                const block_q16a& b = a16[p / 64];
                                mag += d16[p] * (std::abs(cb->xy16[2 * ci] * b.q[2 * (p % 64)]) +
                                                 std::abs(cb->xy16[2 * ci + 1] * b.q[2 * (p % 64) + 1]));
                            }
                        }
                        mag *= q8 ? cb->s8 : cb->s16;
                        INFO("row " << i << " want " << want[i] << " got " << got[i]);
                        REQUIRE(std::fabs(double(got[i]) - want[i]) <= 2e-6 * mag + 1e-30);
                        // NEON sums the outer part as the references do: the same bits
                        if (id == isa::neon || id == isa::neondot) REQUIRE(std::memcmp(&got[i], &want[i], 4) == 0);
                        // against the exact f32 dot, within the stated bound
                        double exact = 0, abs_terms = 0;
                        for (std::size_t p = 0; p < pairs; ++p) {
                            const std::uint16_t ci = ref::unpack_one(c, p, k);
                            for (int j = 0; j < 2; ++j) {
                                exact += double(table2[2 * ci + j]) * o.xt[2 * p + j];
                                abs_terms += std::fabs(double(table2[2 * ci + j]) * o.xt[2 * p + j]);
                            }
                        }
                        const double bound = stated_bound(c, pairs, k, table2, o.xt.data(), q8, *cb, q8 ? d8 : d16);
                        INFO("exact " << exact << " bound " << bound << " sum|terms| " << abs_terms);
                        REQUIRE(std::fabs(got[i] - exact) <= bound);
                        // the bound says something on a long row: q16 within 0.2 %, q8 within 6 % of Σ|terms|
                        if (pairs == 2048) REQUIRE(bound <= (q8 ? 6e-2 : 2e-3) * abs_terms);
                    }
                }
            }
        }
    }
}

TEST_CASE("q16 GEMM micro-kernel: every tile edge equals the row kernel bit for bit, every ISA", "[kernels][int][isa]") {
    tools::rng r(19);
    const int k = 11;
    auto cb = std::make_unique<int_codebook>();
    make_int_codebook(lm2d_table(k), k, *cb);
    for (std::size_t pairs : {48, 272}) {  // a partial block only; full blocks and a partial one
        const std::size_t rows = 9, rb = packed_bytes(pairs, k), ab = q16a_blocks(pairs) * sizeof(block_q16a) + 64;
        const auto o = make_operands(r, rows, pairs, k);
        // 9 different activations, ab bytes apart (not a multiple of the block size)
        std::vector<unsigned char> acts(9 * ab);
        for (std::size_t j = 0; j < 9; ++j) {
            std::vector<float> xt(o.xt);
            for (float& v : xt) v *= float(1 + j) * (r.uniform() < 0.5 ? -1.0f : 1.0f);
            quantize_q16a(xt.data(), pairs, reinterpret_cast<block_q16a*>(acts.data() + j * ab));
        }
        const auto* a = reinterpret_cast<const block_q16a*>(acts.data());
        std::vector<std::int32_t> words(rows * pairs);
        for (std::size_t i = 0; i < rows; ++i) ref::lookup_q16(o.codes.data() + i * rb, pairs, k, *cb, words.data() + i * pairs);
        for (isa id : available_isas()) {
            const kernel_table& t = *kernels_for(id);
            // every tile edge of the 2 × 2 and 4 × 4 micro-kernels: 1…9 rows against 1…9 activations
            for (std::size_t nr = 1; nr <= rows; ++nr)
                for (std::size_t m = 1; m <= 9; ++m) {
                    INFO("isa " << isa_name(id) << " pairs " << pairs << " rows " << nr << " activations " << m);
                    const std::size_t ldy = nr + 1;
                    std::vector<float> y(m * ldy, -7.0f), want(m * ldy, -7.0f);
                    t.dot_words_q16(words.data(), pairs, nr, pairs, *cb, a, ab, m, y.data(), ldy);
                    for (std::size_t j = 0; j < m; ++j)
                        t.dot_rows_q16(o.codes.data(), rb, nr, pairs, k, *cb, ref::q16_activation(a, ab, j), want.data() + j * ldy);
                    REQUIRE(std::memcmp(y.data(), want.data(), 4 * y.size()) == 0);  // y[j·ldy + nr] untouched
                }
        }
    }
}

TEST_CASE("the q8 kernels exist where they are built, and take no rows and zero activations", "[kernels][int][isa]") {
    const std::vector<isa> ids = available_isas();
#if defined(__aarch64__) && defined(QAMW_DISPATCH)
    REQUIRE(std::find(ids.begin(), ids.end(), isa::neon) != ids.end());  // so the loop below runs the NEON kernels
#endif
    tools::rng r(13);
    for (isa id : ids) {
        INFO("isa " << isa_name(id));
        const kernel_table& t = *kernels_for(id);
        // the q8 path where its kernel measured faster than q16 (int_product::q8_max_bits)
        const int q8_max = id == isa::avx2 ? 6 : id == isa::avx512 ? 7 : id == isa::sse2 || id == isa::avx ? 0 : 8;
        REQUIRE(t.q8_max_bits == q8_max);
        REQUIRE((t.dot_rows_q8 != nullptr) == (q8_max > 0));
        for (int k = min_bits; k <= max_bits; ++k) REQUIRE(int_uses_q8(t, k) == (k <= q8_max));
        for (int k = min_bits; k <= max_bits; ++k) {
            INFO("k " << k);
            auto cb = std::make_unique<int_codebook>();
            make_int_codebook(lm2d_table(k), k, *cb);
            const std::size_t pairs = 80, rb = packed_bytes(pairs, k);
            auto o = make_operands(r, 5, pairs, k);
            std::fill(o.xt.begin(), o.xt.end(), 0.0f);
            std::vector<block_q8a> a8(q8a_blocks(pairs));
            std::vector<block_q16a> a16(q16a_blocks(pairs));
            const float bias = quantize_q8a(o.xt.data(), pairs, a8.data());
            quantize_q16a(o.xt.data(), pairs, a16.data());
            std::vector<float> y(6, -1.0f);
            t.dot_rows_q16(o.codes.data(), rb, 0, pairs, k, *cb, a16.data(), y.data());  // no rows: nothing written
            REQUIRE(y == std::vector<float>(6, -1.0f));
            t.dot_rows_q16(o.codes.data(), rb, 5, pairs, k, *cb, a16.data(), y.data());  // a zero activation: exact zeros
            REQUIRE(y == std::vector<float>{0, 0, 0, 0, 0, -1});
            if (k > 8 || !t.dot_rows_q8) continue;
            y.assign(6, -1.0f);
            t.dot_rows_q8(o.codes.data(), rb, 0, pairs, k, *cb, a8.data(), bias, y.data());
            REQUIRE(y == std::vector<float>(6, -1.0f));
            t.dot_rows_q8(o.codes.data(), rb, 5, pairs, k, *cb, a8.data(), bias, y.data());
            REQUIRE(y == std::vector<float>{0, 0, 0, 0, 0, -1});
        }
    }
}

TEST_CASE("integer row kernels: rows of all-zero codes (codeword 0 everywhere), every ISA", "[kernels][int][isa]") {
    tools::rng r(17);
    for (isa id : available_isas()) {
        const kernel_table& t = *kernels_for(id);
        for (int k = min_bits; k <= max_bits; ++k) {
            INFO("isa " << isa_name(id) << " k " << k);
            auto cb = std::make_unique<int_codebook>();
            make_int_codebook(lm2d_table(k), k, *cb);
            const std::size_t pairs = 112, rows = 5, rb = packed_bytes(pairs, k);
            auto o = make_operands(r, rows, pairs, k);
            std::fill(o.codes.begin(), o.codes.end(), std::uint8_t{0});
            std::vector<block_q8a> a8(q8a_blocks(pairs));
            std::vector<block_q16a> a16(q16a_blocks(pairs));
            const float bias = quantize_q8a(o.xt.data(), pairs, a8.data());
            quantize_q16a(o.xt.data(), pairs, a16.data());
            // codeword 0 against x̃: s · Σ_b d_b · Σ_p (cx0·ax + cy0·ay), the same for every row; within float rounding
            // of Σ |terms|
            double w16 = 0, m16 = 0;
            for (std::size_t p = 0; p < pairs; ++p) {
                const block_q16a& b = a16[p / 64];
                const int tx = cb->xy16[0] * b.q[2 * (p % 64)], ty = cb->xy16[1] * b.q[2 * (p % 64) + 1];
                w16 += double(b.d) * (tx + ty), m16 += double(b.d) * (std::abs(tx) + std::abs(ty));
            }
            std::vector<float> y(rows);
            t.dot_rows_q16(o.codes.data(), rb, rows, pairs, k, *cb, a16.data(), y.data());
            for (float v : y) REQUIRE(std::fabs(v - cb->s16 * w16) <= 2e-6 * cb->s16 * m16);
            if (!int_uses_q8(t, k)) continue;
            double w8 = 0, m8 = 0;
            for (std::size_t p = 0; p < pairs; ++p) {
                const block_q8a& b = a8[p / 64];
                const int tx = (cb->ux8[0] - 128) * b.x[p % 64], ty = (cb->uy8[0] - 128) * b.y[p % 64];
                w8 += double(b.d[(p % 64) / 16]) * (tx + ty);
                // the magnitude of the offset-unsigned sums the VNNI kernel forms before it subtracts the bias
                m8 += double(b.d[(p % 64) / 16]) * (std::abs(cb->ux8[0] * b.x[p % 64]) + std::abs(cb->uy8[0] * b.y[p % 64]));
            }
            t.dot_rows_q8(o.codes.data(), rb, rows, pairs, k, *cb, a8.data(), bias, y.data());
            for (float v : y) REQUIRE(std::fabs(v - cb->s8 * w8) <= 2e-6 * cb->s8 * m8);
        }
    }
}

TEST_CASE("engine integer path: GEMV and GEMM against the f32 fused GEMV, every ISA", "[kernels][int][product]") {
    for (auto [rows, cols] : std::vector<std::pair<int, int>>{{5, 40}, {37, 700}, {64, 2048}}) {
        auto w = tools::gaussian_vector(3, std::size_t(rows) * cols, 0.05);
        for (int k : {4, 7, 8, 9, 11, 12}) {
            params p;
            p.bits = k;
            auto q = encode(w.data(), rows, cols, p);
            const prepared_tensor t(q.view(), nullptr, true);
            const std::size_t m = 3, np = t.padded(), ab = t.int_activation_bytes();
            auto x = tools::gaussian_vector(4, m * std::size_t(cols));
            for (isa id : available_isas()) {
                INFO("isa " << isa_name(id) << " k " << k << " shape " << rows << "x" << cols);
                const kernel_table& kt = *kernels_for(id);
                std::vector<float> xt(m * np), want(m * rows), got(m * rows), gm(m * rows);
                std::vector<std::uint8_t> act(m * ab);
                std::vector<std::int32_t> scratch(t.int_gemm_scratch_words());
                for (std::size_t b = 0; b < m; ++b) {
                    rotate(t, x.data() + b * cols, xt.data() + b * np, kt);
                    dot_rows(t, xt.data() + b * np, 0, rows, want.data() + b * rows, kt);
                    quantize_activation(t, xt.data() + b * np, act.data() + b * ab, kt);
                    int_dot_rows(t, act.data() + b * ab, 0, rows, got.data() + b * rows, kt);
                }
                int_gemm_rows(t, act.data(), m, 0, rows, gm.data(), std::size_t(rows), scratch.data(), kt);
                double e = 0, s = 0;
                for (std::size_t i = 0; i < want.size(); ++i) {
                    e += (got[i] - want[i]) * double(got[i] - want[i]), s += double(want[i]) * want[i];
                    REQUIRE(gm[i] == got[i]);
                }
                INFO("relative error " << std::sqrt(e / s));
                REQUIRE(std::sqrt(e / s) <= (int_uses_q8(kt, k) ? 3e-2 : 1e-3));
            }
        }
    }
}

TEST_CASE("engine split q16 path: d8 tensors with their codes split give the q16 path's bits, every ISA",
          "[kernels][int][product]") {
    for (auto [rows, cols] : std::vector<std::pair<int, int>>{{5, 40}, {37, 700}, {64, 2048}}) {
        const auto w = tools::gaussian_vector(5, std::size_t(rows) * cols, 0.05);
        for (int k : {9, 10, 11}) {
            params p;
            p.bits = k;
            p.family = codebook_family::d8;
            const auto q = encode(w.data(), rows, cols, p);
            const prepared_tensor packed(q.view(), nullptr, true);
            prepared_tensor split(q.view(), nullptr, true);
            std::vector<std::uint8_t> buf(split.split_codes_bytes());
            split.use_split_codes(buf.data());
            REQUIRE(split.split() == buf.data());
            const std::size_t m = 2, np = split.padded(), ab = split.int_activation_bytes();
            const auto x = tools::gaussian_vector(6, m * std::size_t(cols));
            for (isa id : available_isas()) {
                INFO("isa " << isa_name(id) << " k " << k << " shape " << rows << "x" << cols);
                const kernel_table& kt = *kernels_for(id);
                REQUIRE(std::string(int_path_of(packed, kt)) == "q16");
                REQUIRE(std::string(int_path_of(split, kt)) == (int_uses_q16s(kt, split.int_table()) ? "split q16" : "q16"));
                std::vector<float> xt(np), want(m * rows), got(m * rows), gm(m * rows);
                std::vector<std::uint8_t> a0(m * ab), a1(m * ab);
                std::vector<std::int32_t> scratch(split.int_gemm_scratch_words());
                for (std::size_t b = 0; b < m; ++b) {
                    rotate(split, x.data() + b * cols, xt.data(), kt);
                    quantize_activation(packed, xt.data(), a0.data() + b * ab, kt);
                    quantize_activation(split, xt.data(), a1.data() + b * ab, kt);
                    int_dot_rows(packed, a0.data() + b * ab, 0, rows, want.data() + b * rows, kt);
                    int_dot_rows(split, a1.data() + b * ab, 0, rows, got.data() + b * rows, kt);
                }
                int_gemm_rows(split, a1.data(), m, 0, rows, gm.data(), std::size_t(rows), scratch.data(), kt);
                REQUIRE(std::memcmp(got.data(), want.data(), 4 * got.size()) == 0);
                REQUIRE(std::memcmp(gm.data(), want.data(), 4 * gm.size()) == 0);
            }
        }
    }
    // only a d8 tensor with its integer path built can have split codes
    const auto w = tools::gaussian_vector(7, 4 * 64, 0.05);
    params p;
    p.bits = 11;
    const auto lm = encode(w.data(), 4, 64, p);
    prepared_tensor t(lm.view(), nullptr, true);
    std::vector<std::uint8_t> buf(t.split_codes_bytes());
    REQUIRE_THROWS_WITH(t.use_split_codes(buf.data()), Catch::Contains("only for a d8 codebook"));
    p.family = codebook_family::d8;
    const auto d8 = encode(w.data(), 4, 64, p);
    prepared_tensor no_int(d8.view());
    REQUIRE_THROWS_WITH(no_int.use_split_codes(buf.data()), Catch::Contains("integer path built"));
    REQUIRE(t.split() == nullptr);
}

TEST_CASE("tools::matmul on the integer kernels stays within the integer paths' error of the f32 products",
          "[kernels][int]") {
    const int rows = 37, cols = 300;
    const auto w = tools::gaussian_vector(21, std::size_t(rows) * cols, 0.05);
    const auto x = tools::gaussian_vector(22, 3 * std::size_t(cols));
    for (auto [k, family] : std::vector<std::pair<int, codebook_family>>{
             {7, codebook_family::lm2d}, {8, codebook_family::lm2d}, {11, codebook_family::lm2d}, {11, codebook_family::d8}}) {
        params p;
        p.bits = k;
        p.family = family;
        const quantized_tensor q = encode(w.data(), rows, cols, p);
        for (isa id : available_isas()) {
            const kernel_table& t = *kernels_for(id);
            INFO("isa " << isa_name(id) << " k " << k << " " << family_name(family));
            const tools::matmul exact(q.view(), t), integer(q.view(), t, true);
            // a d8 tensor runs on the split q16 kernel wherever the set has it (matmul splits its codes)
            REQUIRE(std::string(int_path_of(integer.prepared(), t)) ==
                    (family == codebook_family::d8 && int_uses_q16s(t, integer.prepared().int_table()) ? "split q16"
                     : int_uses_q8(t, k)                                                              ? "q8"
                                                                                                      : "q16"));
            std::vector<float> y0(3 * rows), y1(3 * rows), g1(3 * rows);
            exact.gemm(x.data(), 3, y0.data(), 2);
            integer.gemm(x.data(), 3, g1.data(), 2);
            for (int b = 0; b < 3; ++b) integer.gemv(x.data() + b * cols, y1.data() + b * rows, 1);
            double e = 0, s = 0;
            for (std::size_t i = 0; i < y0.size(); ++i) {
                REQUIRE(y1[i] == g1[i]);  // gemv and gemm take the same integer path
                e += (y1[i] - y0[i]) * double(y1[i] - y0[i]), s += double(y0[i]) * y0[i];
            }
            CHECK(std::sqrt(e / s) <= (int_uses_q8(t, k) ? 3e-2 : 1e-3));
        }
    }
}

TEST_CASE("split q16 activation: a relayout of q16's integers, the same bytes from every kernel set", "[kernels][int][isa]") {
    tools::rng r(23);
    for (std::size_t pairs : {16, 48, 64, 80, 272, 2000}) {
        INFO("pairs " << pairs);
        auto o = make_operands(r, 1, pairs, 11);
        std::vector<block_q16a> a16(q16a_blocks(pairs));
        std::vector<block_q16s> want(q16a_blocks(pairs));
        quantize_q16a(o.xt.data(), pairs, a16.data());
        quantize_q16s(o.xt.data(), pairs, want.data());
        std::vector<bool> seen(q16_block_pairs);
        for (std::size_t P = 0; P < q16_block_pairs; ++P) seen[q16s_pair(P)] = true;
        REQUIRE(std::count(seen.begin(), seen.end(), true) == std::ptrdiff_t(q16_block_pairs));  // a permutation
        for (std::size_t b = 0; b < want.size(); ++b) {
            REQUIRE(std::memcmp(&want[b].d, &a16[b].d, 4) == 0);
            for (std::uint8_t z : want[b].zero) REQUIRE(z == 0);
            for (std::size_t P = 0; P < q16_block_pairs; ++P)
                for (int c = 0; c < 2; ++c) {
                    REQUIRE((want[b].lo[c][P] >= 0 && want[b].hi[c][P] >= -32 && want[b].hi[c][P] <= 31));
                    REQUIRE(128 * want[b].hi[c][P] + want[b].lo[c][P] == a16[b].q[2 * q16s_pair(P) + c]);
                }
        }
        for (isa id : available_isas()) {
            const kernel_table& t = *kernels_for(id);
            INFO("isa " << isa_name(id));
            REQUIRE((t.quantize_q16s == nullptr) == (t.dot_rows_q16s == nullptr));
            if (!t.quantize_q16s) continue;
            std::vector<block_q16s> got(q16a_blocks(pairs));
            std::vector<block_q16a> also(q16a_blocks(pairs));
            t.quantize_q16s(o.xt.data(), pairs, got.data(), nullptr);
            REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(block_q16s)) == 0);
            t.quantize_q16s(o.xt.data(), pairs, got.data(), also.data());  // and quantize_q16a's blocks beside them
            REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(block_q16s)) == 0);
            REQUIRE(std::memcmp(also.data(), a16.data(), also.size() * sizeof(block_q16a)) == 0);
        }
    }
}

TEST_CASE("d8 integer codebooks: exact grid integers and byte planes; tables off the grid or without the symmetry are "
          "refused", "[kernels][int]") {
    tools::rng r(29);
    const float grid = 0x1.3p-7f;
    for (int k : {9, 10, 11}) {
        INFO("k " << k);
        const auto t = grid_d8_table(r, k, grid);
        auto cb = std::make_unique<int_codebook>();
        make_int_codebook(t.data(), k, *cb, grid);
        const std::size_t n = std::size_t{1} << k, nb = n / 8;
        REQUIRE((cb->d8 && cb->s16 == grid));
        for (std::size_t i = 0; i < 2 * n; ++i) REQUIRE(cb->s16 * cb->xy16[i] == t[i]);
        for (std::size_t i = 0; i < 256; ++i) {
            REQUIRE(cb->d8_planes[0][i] == cb->xy16[2 * (i % nb)]);
            REQUIRE(cb->d8_planes[1][i] == cb->xy16[2 * (i % nb) + 1]);
        }
        auto off = t;
        off[2 * 5 + 1] += grid / 2;  // base point 5 off the grid
        REQUIRE_THROWS_WITH(make_int_codebook(off.data(), k, *cb, grid), Catch::Contains("codeword 5") && Catch::Contains("not on the grid"));
        auto asym = t;
        asym[2 * (nb + 3)] = -asym[2 * (nb + 3)];  // code nb + 3 (s = 1) not T_1 of base point 3
        REQUIRE_THROWS_WITH(make_int_codebook(asym.data(), k, *cb, grid),
                            Catch::Contains("codeword " + std::to_string(nb + 3)) && Catch::Contains("not T_s of its base point"));
        auto far = t;
        for (float& v : far) v *= 2;  // coordinates up to 510 steps
        REQUIRE_THROWS_AS(make_int_codebook(far.data(), k, *cb, grid), qamw::error);
        make_int_codebook(t.data(), k, *cb);  // the same table without its grid: the general rounding, no planes
        REQUIRE(!cb->d8);
    }
}

TEST_CASE("split q16 kernels: d8 codebooks at k = 9, 10, 11 give the q16 kernels' bits on every ISA", "[kernels][int][isa]") {
    tools::rng r(31);
    for (int k : {9, 10, 11}) {
        const float grid = 0x1.1p-6f;
        const auto table = grid_d8_table(r, k, grid);
        auto cb = std::make_unique<int_codebook>();
        make_int_codebook(table.data(), k, *cb, grid);
        for (std::size_t pairs : {16, 32, 48, 64, 80, 112, 272, 2000, 2048}) {
            const std::size_t rows = 3, rb = packed_bytes(pairs, k);
            auto o = make_operands(r, rows, pairs, k);
            std::vector<block_q16a> a16(q16a_blocks(pairs));
            std::vector<block_q16s> as(q16a_blocks(pairs));
            quantize_q16a(o.xt.data(), pairs, a16.data());
            quantize_q16s(o.xt.data(), pairs, as.data());
            // the codes in the split layout, exactly sized: the split kernels read no byte past them (AddressSanitizer
            // sees any overread); every code is where split_code finds it
            const std::size_t srb = split_row_bytes(pairs, k);
            std::vector<std::uint8_t> split(rows * srb, 0xa5);
            for (std::size_t i = 0; i < rows; ++i) split_codes(o.codes.data() + i * rb, pairs, k, split.data() + i * srb);
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t p = 0; p < q16a_blocks(pairs) * q16_block_pairs; ++p)
                    REQUIRE(split_code(split.data() + i * srb, p, k) == (p < pairs ? ref::unpack_one(o.codes.data() + i * rb, p, k) : 0));
            std::vector<float> want(rows), ref_split(rows);
            ref::dot_rows_q16(o.codes.data(), rb, rows, pairs, k, *cb, a16.data(), want.data());
            ref::dot_rows_q16s(split.data(), srb, rows, pairs, k, *cb, as.data(), ref_split.data());
            REQUIRE(std::memcmp(ref_split.data(), want.data(), 4 * rows) == 0);
            for (isa id : available_isas()) {
                const kernel_table& t = *kernels_for(id);
                INFO("isa " << isa_name(id) << " k " << k << " pairs " << pairs);
                REQUIRE(int_uses_q16s(t, *cb) == (t.dot_rows_q16s != nullptr));
                if (!t.dot_rows_q16s) continue;
                std::vector<float> q16(rows), got(rows, -1.0f);
                t.dot_rows_q16(o.codes.data(), rb, rows, pairs, k, *cb, a16.data(), q16.data());
                t.dot_rows_q16s(split.data(), srb, rows, pairs, k, *cb, as.data(), got.data());
                REQUIRE(std::memcmp(got.data(), q16.data(), 4 * rows) == 0);
            }
        }
    }
#if (defined(__x86_64__) || defined(_M_X64)) && defined(QAMW_DISPATCH)
    // the split kernels exist exactly where AVX-512 VBMI + VNNI does
    for (isa id : available_isas())
        REQUIRE((kernels_for(id)->dot_rows_q16s != nullptr) == (id == isa::avx512vnni || id == isa::avx512vnni_gather));
#endif
}
