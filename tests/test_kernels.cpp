// Kernel tests: every product kernel of every available ISA against the scalar reference (lookup bit-exact, sums
// within a bound relative to Σ|terms|), odd lengths and unaligned pointers; the fused GEMV / GEMM against decode-then-
// multiply; bit-identical results for every thread count.
#include "common/metrics.hpp"
#include "common/product.hpp"

#include <qamw/codec.hpp>
#include <qamw/dispatch.hpp>

#include <catch2/catch.hpp>

#include <cstring>

using namespace qamw;

namespace {
/// Bound for a float sum of n terms against the reference, relative to Σ|terms|.
double sum_tolerance(std::size_t n) { return 4.0 * double(n) * 0x1p-24; }
}  // namespace

TEST_CASE("lookup_row and dot_row: every ISA against the reference, every k", "[kernels][isa]") {
    tools::rng r(1);
    for (isa id : available_isas()) {
        const kernel_table& k = *kernels_for(id);
        INFO("isa " << isa_name(id));
        for (int bits = min_bits; bits <= max_bits; ++bits) {
            const codebook cb(bits);
            for (std::size_t pairs : {8, 16, 24, 48, 80, 2048}) {
                for (std::size_t off : {0, 1, 3}) {  // unaligned code and activation pointers
                    std::vector<std::uint8_t> codes(off + packed_bytes(pairs, bits) + kernels::overread);
                    for (auto& c : codes) c = static_cast<std::uint8_t>(r.next());
                    const std::uint8_t* c = codes.data() + off;
                    std::vector<float> a(2 * pairs), b(2 * pairs), xt(off + 2 * pairs);
                    ref::lookup_row(c, pairs, bits, cb.xy(), a.data());
                    k.lookup_row(c, pairs, bits, cb.xy(), b.data());
                    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
                    for (auto& v : xt) v = float(r.normal());
                    const float* x = xt.data() + off;
                    double abs_sum = 0;
                    for (std::size_t j = 0; j < 2 * pairs; ++j) abs_sum += std::fabs(double(a[j]) * x[j]);
                    float want = ref::dot_row(c, pairs, bits, cb.xy(), x), got = k.dot_row(c, pairs, bits, cb.xy(), x);
                    REQUIRE(std::fabs(double(got) - want) <= sum_tolerance(2 * pairs) * abs_sum);
                }
            }
        }
    }
}

TEST_CASE("dot_tile: every ISA against the reference, odd tile shapes", "[kernels][isa]") {
    tools::rng r(2);
    for (isa id : available_isas()) {
        const kernel_table& k = *kernels_for(id);
        INFO("isa " << isa_name(id));
        for (std::size_t rows : {1, 3, 4, 5, 9})
            for (std::size_t nb : {1, 2, 4, 7})
                for (std::size_t n : {32, 64, 544}) {
                    std::vector<float> q(rows * (n + 1)), x(nb * (n + 3)), y0(nb * (rows + 2)), y1(y0.size());
                    for (auto& v : q) v = float(r.normal());
                    for (auto& v : x) v = float(r.normal());
                    ref::dot_tile(q.data(), n + 1, rows, x.data(), n + 3, nb, n, y0.data(), rows + 2);
                    k.dot_tile(q.data(), n + 1, rows, x.data(), n + 3, nb, n, y1.data(), rows + 2);
                    for (std::size_t i = 0; i < y0.size(); ++i) REQUIRE(y1[i] == Approx(y0[i]).margin(1e-3 * std::sqrt(double(n))));
                }
    }
}

TEST_CASE("fused GEMV and GEMM equal decode-then-multiply, for every ISA and thread count, lm2d and d8", "[kernels][product]") {
    // k = 9 with the Lloyd-Max codebook, k = 11 with the D8-symmetric one (codebooks/d8.hpp)
    for (auto [bits, family] : {std::pair{9, codebook_family::lm2d}, std::pair{11, codebook_family::d8}}) {
        for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 1}, {3, 40}, {17, 172}, {64, 512}, {33, 1536}}) {
            auto w = tools::gaussian_vector(3, std::size_t(rows) * cols, 0.05);
            std::vector<float> s(cols);
            for (int j = 0; j < cols; ++j) s[j] = 0.5f + float(j % 5) * 0.25f;
            for (bool scaled : {false, true}) {
                params p;
                p.bits = bits;
                p.family = family;
                p.block = 128;
                auto q = encode(w.data(), rows, cols, p, scaled ? s.data() : nullptr);
                auto d = decode(q);
                const std::size_t m = 5;
                auto x = tools::gaussian_vector(4, m * cols);
                std::vector<double> want(m * rows), mag(m * rows);
                for (std::size_t b = 0; b < m; ++b)
                    for (int i = 0; i < rows; ++i)
                        for (int j = 0; j < cols; ++j) {
                            double t = double(d[i * cols + j]) * x[b * cols + j];
                            want[b * rows + i] += t, mag[b * rows + i] += std::fabs(t);
                        }
                for (isa id : available_isas()) {
                    const tools::matmul mm(q.view(), *kernels_for(id));
                    std::vector<float> y1(m * rows), yg1(m * rows);  // one thread: the others must give the same bits
                    for (int threads : {1, 2, 3}) {
                        INFO("isa " << isa_name(id) << " " << family_name(family) << " k " << bits << " threads " << threads
                                    << " shape " << rows << "x" << cols);
                        std::vector<float> y(m * rows), yg(m * rows);
                        mm.gemm(x.data(), m, yg.data(), threads);
                        for (std::size_t b = 0; b < m; ++b) {
                            mm.gemv(x.data() + b * cols, y.data() + b * rows, threads);
                            for (int i = 0; i < rows; ++i) {
                                double tol = 1e-5 * mag[b * rows + i] + 1e-30;
                                REQUIRE(std::fabs(y[b * rows + i] - want[b * rows + i]) <= tol);
                                REQUIRE(std::fabs(yg[b * rows + i] - want[b * rows + i]) <= tol);
                            }
                        }
                        if (threads == 1) y1 = y, yg1 = yg;
                        REQUIRE(std::memcmp(y.data(), y1.data(), 4 * y.size()) == 0);
                        REQUIRE(std::memcmp(yg.data(), yg1.data(), 4 * yg.size()) == 0);
                    }
                }
            }
        }
    }
}
