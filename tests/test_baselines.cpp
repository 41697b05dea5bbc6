// Baseline codec tests: each baseline's distortion on Gaussian data against its theory (polar: MSE ÷ 2^-k = 2.43 at
// k = 8 and 2.54 at k = 11, the exact cell integrals of tools/baselines/polar.hpp), QAM-W against polar and scalar coding at equal or lower true rate on Gaussian and heavy-tailed rows, the
// exact bit accounting, determinism, and the registry's parsing and rate selection.
#include "common/metrics.hpp"
#include "common/random.hpp"

#include "baselines/registry.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace qamw;
using namespace qamw::baselines;

namespace {

constexpr double pi = 3.14159265358979323846;

/// n i.i.d. Student-t(ν) values (heavy-tailed: ν = 4 has infinite kurtosis), scaled by sigma.
std::vector<float> student_t_vector(std::uint64_t seed, std::size_t n, int nu, double sigma) {
    tools::rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) {
        double chi2 = 0;
        for (int i = 0; i < nu; ++i) {
            double g = r.normal();
            chi2 += g * g;
        }
        x = static_cast<float>(sigma * r.normal() / std::sqrt(chi2 / nu));
    }
    return v;
}

double rel_mse(const codec_spec& c, const std::vector<float>& w, std::int64_t rows, std::int64_t cols,
               double* bpw = nullptr) {
    result r = reconstruct(c, w.data(), rows, cols, nullptr, 2);
    if (bpw) *bpw = r.bits / double(rows * cols);
    return tools::relative_mse(w, r.w_hat);
}

/// E[(max of g |N(0,1)|)²] by numerical integration: ∫ 2m·(1 − (2Φ(m) − 1)^g) dm.
double expected_max_abs_sq(int g) {
    double s = 0, h = 1e-4;
    for (double m = h / 2; m < 12; m += h) s += 2 * m * (1 - std::pow(std::erf(m / std::sqrt(2.0)), g)) * h;
    return s;
}

}  // namespace

TEST_CASE("polar: Rayleigh Lloyd-Max levels are centroids and the exact MSE matches sampling", "[baselines][polar]") {
    for (int b : {0, 1, 3, 5, 8}) {
        rayleigh_lloyd q(b);
        INFO("radius bits " << b << ", Newton steps " << q.iterations());
        CHECK(q.iterations() < 20);  // Newton converged (Lloyd would take thousands of iterations)
        const auto& y = q.levels();
        for (std::size_t i = 0; i < y.size(); ++i)
            CHECK(y[i] == Approx(q.cell_first()[i] / q.cell_mass()[i]).epsilon(1e-9));
        tools::rng r(40 + b);
        double s = 0;
        const int n = 400000;
        for (int i = 0; i < n; ++i) {
            double x = r.normal(), z = r.normal(), rad = std::sqrt(x * x + z * z);
            double e = rad - q.decode(q.encode(rad));
            s += e * e;
        }
        CHECK(s / n == Approx(q.mse()).epsilon(0.02));
    }
    CHECK(rayleigh_lloyd(0).levels()[0] == Approx(std::sqrt(pi / 2)).epsilon(1e-12));  // E[r]
    CHECK(rayleigh_lloyd(0).mse() == Approx(2 - pi / 2).epsilon(1e-12));                // Var[r]
}

TEST_CASE("polar: MSE ÷ 2^-k is 2.43 at k = 8 and 2.54 at k = 11, at the best of all splits",
          "[baselines][polar]") {
    for (int k = 2; k <= 12; ++k) {
        const polar_quantizer& best = polar(k);
        double brute = INFINITY;
        int brute_br = -1;
        for (int br = 0; br <= std::min(k - 1, 10); ++br) {
            polar_quantizer q(br, k - br);
            if (q.mse() < brute) brute = q.mse(), brute_br = br;
        }
        INFO("k=" << k << " best split b_r=" << best.radius_bits() << " ratio " << best.mse() / std::ldexp(1.0, -k));
        CHECK(best.bits() == k);
        CHECK(best.radius_bits() == brute_br);
        CHECK(best.mse() == brute);
    }
    CHECK(polar(8).mse() / std::ldexp(1.0, -8) == Approx(2.43).margin(0.01));
    CHECK(polar(8).radius_bits() == 3);
    CHECK(polar(11).mse() / std::ldexp(1.0, -11) == Approx(2.54).margin(0.01));
    CHECK(polar(11).radius_bits() == 5);
    WARN("polar MSE/2^-k: k=7 " << polar(7).mse() * 128 << " (b_r=" << polar(7).radius_bits() << "), k=8 "
                                << polar(8).mse() * 256 << " (b_r=" << polar(8).radius_bits() << "), k=11 "
                                << polar(11).mse() * 2048 << " (b_r=" << polar(11).radius_bits() << ")");
    // The exact formula against sampling N(0, I₂) through encode/decode.
    for (int k : {6, 8, 11}) {
        const polar_quantizer& q = polar(k);
        tools::rng r(70 + k);
        double s = 0;
        const int n = 400000;
        for (int i = 0; i < n; ++i) {
            float x = float(r.normal()), y = float(r.normal());
            auto c = q.encode(x, y);
            s += (x - q.decode_x(c)) * (x - q.decode_x(c)) + (y - q.decode_y(c)) * (y - q.decode_y(c));
        }
        CHECK(s / (2.0 * n) == Approx(q.mse()).epsilon(0.02));
    }
    CHECK_THROWS_AS(polar(1), qamw::error);
    CHECK_THROWS_AS(polar(17), qamw::error);
}

TEST_CASE("baselines: relative MSE on Gaussian rows matches each codec's theory", "[baselines][quality]") {
    const std::int64_t rows = 64, cols = 4096;
    auto w = tools::gaussian_vector(11, rows * cols, 0.02);
    for (int k : {7, 8, 11}) {
        double m = rel_mse({"polar", k}, w, rows, cols);
        INFO("polar:" << k << " relative MSE " << m << " theory " << polar(k).mse());
        CHECK(m == Approx(polar(k).mse()).epsilon(0.03));
    }
    for (int b : {2, 3, 4, 5}) {
        double m = rel_mse({"scalar", b}, w, rows, cols);
        INFO("scalar:" << b << " relative MSE " << m << " theory " << scalar_lloyd(b).mse());
        CHECK(m == Approx(scalar_lloyd(b).mse()).epsilon(0.03));
    }
    // RTN, high-resolution theory: in a group of g the largest-|x| weight is exact, the others get uniform noise of
    // step d, MSE d²/12, with d = max|x| / 2^(b−1) (full) or / (2^(b−1) − 1) (symmetric).
    for (int g : {32, 128})
        for (int b : {4, 6}) {
            const double em2 = expected_max_abs_sq(g), half = std::ldexp(1.0, b - 1);
            for (bool rot : {false, true}) {
                codec_spec c{"rtn" + std::to_string(g) + (rot ? "-rot" : ""), b};
                double m = rel_mse(c, w, rows, cols);
                double theory = (g - 1.0) / g * em2 / (half * half) / 12;
                INFO(to_string(c) << " relative MSE " << m << " theory " << theory);
                CHECK(m == Approx(theory).epsilon(0.05));
            }
            rtn_params sym;
            sym.bits = b, sym.group = g, sym.mode = rtn_params::levels::symmetric;
            std::vector<float> out(w.size());
            rtn_reconstruct(w.data(), rows, cols, sym, nullptr, 2, out.data());
            double m = tools::relative_mse(w, out), theory = (g - 1.0) / g * em2 / ((half - 1) * (half - 1)) / 12;
            INFO("symmetric rtn g=" << g << " b=" << b << " relative MSE " << m << " theory " << theory);
            CHECK(m == Approx(theory).epsilon(0.05));
            if (g == 32 && b == 4)
                WARN("rtn32:4 relative MSE, full levels " << rel_mse({"rtn32", 4}, w, rows, cols) << ", symmetric "
                                                          << m);
            // full levels win: the registry's choice
            CHECK(rel_mse({"rtn" + std::to_string(g), b}, w, rows, cols) < m);
        }
}

TEST_CASE("QAM-W beats polar and scalar coding at equal or lower true bpw, on Gaussian and Student-t rows",
          "[baselines][quality]") {
    const std::int64_t rows = 64, cols = 4096;
    struct source {
        const char* name;
        std::vector<float> w;
    };
    std::vector<source> sources = {{"Gaussian", tools::gaussian_vector(12, rows * cols, 0.02)},
                                   {"Student-t(4)", student_t_vector(13, rows * cols, 4, 0.02)},
                                   {"Student-t(3)", student_t_vector(14, rows * cols, 3, 0.02)}};
    for (const source& s : sources) {
        const bool very_heavy = std::string(s.name) == "Student-t(3)";
        for (int k : {6, 7, 8, 10, 11, 12}) {
            double b_q, b_p;
            double q = rel_mse({"qamw", k}, s.w, rows, cols, &b_q), p = rel_mse({"polar", k}, s.w, rows, cols, &b_p);
            INFO(s.name << " k=" << k << ": qamw " << q << " polar " << p);
            CHECK(b_q == b_p);
            CHECK(q < p * 0.9);  // the joint 2D codebook is ≥ 0.45 dB better than polar (measured: 0.7–1.1 dB)
        }
        for (int b : {2, 3, 4, 5, 6}) {
            double b_q, b_s;
            double q = rel_mse({"qamw", 2 * b}, s.w, rows, cols, &b_q);
            double m = rel_mse({"scalar", b}, s.w, rows, cols, &b_s);
            INFO(s.name << " b=" << b << ": qamw:" << 2 * b << " " << q << " at " << b_q << " bpw, scalar " << m
                        << " at " << b_s << " bpw");
            CHECK(b_q < b_s);
            if (!very_heavy) {
                CHECK(q < m);
                continue;
            }
            // Measured limit: on i.i.d. Student-t(3) rows (infinite kurtosis) the energy of 256-blocks varies so much
            // that QAM-W's one norm per row fits the rotated coordinates worse than the scalar coder's norm per 128
            // (which costs 0.125 bpw more): QAM-W at B = 256 is 4–7% worse. A Hadamard block over the whole row
            // (B = 4096) spreads the outliers over every coordinate and wins again, by 5–18%. House-a's real rows
            // are near-Gaussian after rotation: there B changes QAM-W's MSE by < 0.3%.
            CHECK(q < 1.10 * m);
            params p;
            p.bits = 2 * b;
            p.block = 4096;
            double q4096 = tools::relative_mse(s.w, decode(encode(s.w.data(), rows, cols, p)));
            INFO("qamw:" << 2 * b << " with B = 4096: " << q4096);
            CHECK(q4096 < 0.97 * m);
        }
    }
}

TEST_CASE("QAM-W has the lowest MSE of every family at 3.5, 4 and 5.5 bpw (at_rate's settings)",
          "[baselines][quality]") {
    const std::int64_t rows = 64, cols = 4096;
    auto w = tools::gaussian_vector(15, rows * cols, 0.02);
    for (double target : {3.5, 4.0, 5.5}) {
        auto q = at_rate("qamw", target, rows, cols);
        REQUIRE(q.size() == 1);
        double bq;
        const double mq = rel_mse(q[0], w, rows, cols, &bq);
        std::string table = "at " + std::to_string(target) + " bpw: " + to_string(q[0]) + " " + std::to_string(mq) +
                            " (" + std::to_string(bq) + " bpw)";
        for (const char* family : {"polar", "scalar", "rtn"})
            for (const codec_spec& c : at_rate(family, target, rows, cols)) {
                double b;
                const double m = rel_mse(c, w, rows, cols, &b);
                table += "; " + to_string(c) + " " + std::to_string(m) + " (" + std::to_string(b) + " bpw)";
                INFO(to_string(c) << " " << m << " at " << b << " bpw vs " << to_string(q[0]) << " " << mq);
                CHECK(mq < m);
            }
        WARN(table);
    }
}

TEST_CASE("baselines: stored bits are counted exactly", "[baselines][rate]") {
    // 4096 × 4096 QAM-W k = 8: codes 4096 · 2048 bytes, norms 16 bits per row + a 32-bit exponent.
    CHECK(stored_bits({"qamw", 8}, 4096, 4096, false) == 8.0 * 4096 * 2048 + 16 * 4096 + 32);
    CHECK(stored_bits({"qamw", 8}, 4096, 4096, true) == 8.0 * 4096 * 2048 + 16 * 4096 + 32 + 16 * 4096);
    // Odd shape 3 × 100: n_pad = 128.
    CHECK(stored_bits({"polar", 7}, 3, 100, false) == 3 * (64 * 7) + 3 * 16 + 32);
    CHECK(stored_bits({"scalar", 4}, 3, 100, false) == 3 * (128 * 4 + 16) + 32);     // one 128-block per row
    CHECK(stored_bits({"scalar", 3}, 2, 4096, false) == 2 * (4096 * 3 + 32 * 16) + 32);
    CHECK(stored_bits({"rtn32", 4}, 3, 100, false) == 3 * (100 * 4 + 4 * 16));       // ⌈100/32⌉ = 4 groups
    CHECK(stored_bits({"rtn128", 3}, 3, 100, false) == 3 * (304 + 16));             // 100·3 bits → 38 bytes
    CHECK(stored_bits({"rtn32-rot", 4}, 3, 100, false) == 3 * (128 * 4 + 4 * 16));  // coded over n_pad = 128
    CHECK(stored_bits({"rtn128-rot", 5}, 3, 100, true) == 3 * (128 * 5 + 16) + 16 * 100);
    // reconstruct reports exactly stored_bits, and QAM-W's equals the encoder's stored_bytes.
    const std::int64_t rows = 5, cols = 200;
    auto w = tools::gaussian_vector(16, rows * cols);
    std::vector<float> s(cols, 0.5f);
    for (const codec_info& info : codecs())
        for (int b : {info.min_bits + 1, info.max_bits - 1})
            for (const float* sc : {static_cast<const float*>(nullptr), static_cast<const float*>(s.data())}) {
                codec_spec c{info.name, b};
                INFO(to_string(c) << (sc ? " with scales" : ""));
                CHECK(reconstruct(c, w.data(), rows, cols, sc, 1).bits == stored_bits(c, rows, cols, sc != nullptr));
            }
    params p;
    p.bits = 9;
    CHECK(stored_bits({"qamw", 9}, rows, cols, false) == 8.0 * double(encode(w.data(), rows, cols, p).stored_bytes()));
}

TEST_CASE("baselines: deterministic across thread counts; power-of-two column scales are undone exactly",
          "[baselines]") {
    const std::int64_t rows = 37, cols = 300;
    auto w = tools::gaussian_vector(17, rows * cols, 0.05);
    std::vector<float> s(cols);
    for (std::int64_t j = 0; j < cols; ++j) s[j] = j % 2 ? 2.0f : 1.0f;
    for (const codec_info& info : codecs()) {
        codec_spec c{info.name, (info.min_bits + info.max_bits) / 2};
        INFO(to_string(c));
        result a = reconstruct(c, w.data(), rows, cols, nullptr, 1);
        result b = reconstruct(c, w.data(), rows, cols, nullptr, 3);
        CHECK(a.w_hat == b.w_hat);
        CHECK(tools::relative_mse(w, a.w_hat) < 0.2);
        // Uniform power-of-two scales only change exponents: the reconstruction is the same bits.
        std::vector<float> four(cols, 4.0f);
        result u = reconstruct(c, w.data(), rows, cols, four.data(), 2);
        CHECK(u.w_hat == a.w_hat);
        CHECK(u.bits == a.bits + 16.0 * cols);
        // Per-column scales change the coding but are undone: the error stays of the same order.
        result v = reconstruct(c, w.data(), rows, cols, s.data(), 2);
        CHECK(tools::relative_mse(w, v.w_hat) < 4 * tools::relative_mse(w, a.w_hat));
    }
}

TEST_CASE("baselines: zero rows, odd shapes and bad input", "[baselines][errors]") {
    std::vector<float> w(3 * 70, 0.0f);
    for (int j = 0; j < 70; ++j) w[70 + j] = float(j) - 35;  // row 1 non-zero, rows 0 and 2 zero
    for (const codec_info& info : codecs()) {
        codec_spec c{info.name, info.max_bits};
        INFO(to_string(c));
        result r = reconstruct(c, w.data(), 3, 70, nullptr, 2);
        REQUIRE(r.w_hat.size() == w.size());
        for (int j = 0; j < 70; ++j) {
            CHECK(r.w_hat[j] == 0.0f);
            CHECK(r.w_hat[140 + j] == 0.0f);
        }
        CHECK(tools::relative_mse(w, r.w_hat) < 1e-3);
        auto bad = w;
        bad[75] = NAN;
        CHECK_THROWS_AS(reconstruct(c, bad.data(), 3, 70, nullptr, 1), qamw::error);
        std::vector<float> s(70, 1.0f);
        s[3] = 0;
        CHECK_THROWS_AS(reconstruct(c, w.data(), 3, 70, s.data(), 1), qamw::error);
        CHECK_THROWS_AS(reconstruct(c, w.data(), 3, 0, nullptr, 1), qamw::error);
    }
    CHECK_THROWS_AS(reconstruct({"qamw", 13}, w.data(), 3, 70, nullptr, 1), qamw::error);
}

TEST_CASE("parse_codec: names, bit ranges and the error message", "[baselines][registry]") {
    CHECK(parse_codec("qamw:11").name == "qamw");
    CHECK(parse_codec("qamw:11").bits == 11);
    CHECK(parse_codec("polar:8").bits == 8);
    CHECK(parse_codec("scalar:4").name == "scalar");
    CHECK(parse_codec("rtn32:4").name == "rtn32");
    CHECK(parse_codec("rtn128:4").name == "rtn128");
    CHECK(parse_codec("rtn32-rot:4").name == "rtn32-rot");
    CHECK(parse_codec("rtn128-rot:8").bits == 8);
    for (const char* s : {"qamw", "qamw:", "qamw:x", "qamw:+8", "qamw:-8", "qamw:8 ", " qamw:8", "QAMW:8", "foo:4",
                          "rtn64:4", "qamw:13", "qamw:3", "polar:1", "polar:17", "scalar:0", "scalar:9", "rtn32:1",
                          "rtn128-rot:9", "qamw:008", ":8", ""}) {
        INFO("'" << s << "'");
        try {
            parse_codec(s);
            FAIL("accepted");
        } catch (const qamw::error& e) {
            CHECK(e.code() == errc::invalid_argument);
            std::string m = e.what();
            const bool names_range = m.find("outside") != std::string::npos;
            if (!names_range) CHECK(m.find("rtn128-rot") != std::string::npos);  // lists the codecs
        }
    }
}

TEST_CASE("at_rate: the setting whose true bpw is closest, at most 0.15 above the target", "[baselines][registry]") {
    auto one = [](const std::string& f, double bpw) {
        auto v = at_rate(f, bpw, 4096, 4096);
        REQUIRE(v.size() == 1);
        return to_string(v[0]);
    };
    CHECK(one("qamw", 4.0) == "qamw:8");
    CHECK(one("qamw", 5.5) == "qamw:11");
    CHECK(one("qamw", 3.5) == "qamw:7");
    CHECK(one("qamw", 3.7) == "qamw:7");     // 3.504 is closer than 4.004
    CHECK(one("qamw", 3.8) == "qamw:7");     // 4.004 is closer but more than 0.15 above
    CHECK(one("qamw", 3.9) == "qamw:8");     // 4.004 is closer and within +0.15
    CHECK(one("polar", 4.0) == "polar:8");
    CHECK(one("scalar", 4.0) == "scalar:4");  // 4.125 (norm per 128)
    CHECK(one("scalar", 3.5) == "scalar:3");  // 4.125 is 0.625 above
    CHECK(one("scalar", 5.5) == "scalar:5");
    CHECK(one("rtn32", 4.0) == "rtn32:3");    // rtn32:4 is 4.5 bpw
    CHECK(one("rtn32", 4.5) == "rtn32:4");
    CHECK(one("rtn128-rot", 4.0) == "rtn128-rot:4");
    auto rtn = at_rate("rtn", 4.0, 4096, 4096);
    REQUIRE(rtn.size() == 4);
    CHECK(to_string(rtn[0]) == "rtn32:3");
    CHECK(to_string(rtn[1]) == "rtn128:4");
    CHECK(to_string(rtn[2]) == "rtn32-rot:3");
    CHECK(to_string(rtn[3]) == "rtn128-rot:4");
    CHECK(at_rate("qamw", 1.5, 4096, 4096).empty());  // nothing at or below 1.65 bpw
    CHECK(at_rate("qamw", 1.9, 4096, 4096).size() == 1);
    CHECK_THROWS_AS(at_rate("nope", 4.0, 64, 64), qamw::error);
    // Small matrices pay more side information: 64 × 64 qamw:8 is 4.258 bpw, within 0.15 of 4.2 but not of 4.0.
    CHECK(to_string(at_rate("qamw", 4.2, 64, 64)[0]) == "qamw:8");
    CHECK(to_string(at_rate("qamw", 4.0, 64, 64)[0]) == "qamw:7");
}
