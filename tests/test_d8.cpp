// D8-symmetric codebook tests: each shipped d8 table has the structure docs/FORMAT.md specifies (checked independently
// of the library's check, which must also catch a broken table), meets a quality bar, encodes to a format-3 container
// that reads back to the same tensor and decode, and is refused where the family has no codebook.
#include "common/codebooks.hpp"
#include "common/metrics.hpp"
#include "temp_dir.hpp"

#include <qamw/container.hpp>
#include <qamw/pipeline.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

using namespace qamw;
using qamw::test::temp_dir;

TEST_CASE("d8 tables: base strictly in 0 < y < x, every code T_s of its base point bit for bit, radius order",
          "[codebook][d8]") {
    for (int k = 9; k <= 11; ++k) {
        INFO("k = " << k);
        const codebook cb(k, codebook_family::d8);  // checks checksum and structure
        REQUIRE(cb.size() == (std::size_t{1} << k));
        REQUIRE(cb.id() == "d8-k" + std::to_string(k));
        const std::size_t nb = cb.size() / 8;
        const float* xy = d8_table(k);
        double last_r = 0;
        for (std::size_t c = 0; c < cb.size(); ++c) {
            const std::size_t s = c >> (k - 3), b = c & (nb - 1);
            const float bx = xy[2 * b], by = xy[2 * b + 1];
            if (s == 0) {
                REQUIRE((by > 0 && by < bx));
                const double r = std::hypot(double(bx), double(by));
                REQUIRE(r >= last_r - 1e-6);
                last_r = r;
            }
            float x = (s & 4) ? by : bx, y = (s & 4) ? bx : by;  // swap, then negate x, then negate y
            if (s & 1) x = -x;
            if (s & 2) y = -y;
            REQUIRE(std::memcmp(&x, &xy[2 * c], 4) == 0);
            REQUIRE(std::memcmp(&y, &xy[2 * c + 1], 4) == 0);
            REQUIRE(cb.nearest(xy[2 * c], xy[2 * c + 1]) == c);
        }
        REQUIRE(detail::fnv1a64(xy, 2 * cb.size() * sizeof(float)) == cb.checksum());
        REQUIRE(cb.checksum() != lm2d_checksum(k));
    }
    for (int k : {4, 8, 12})
        REQUIRE_THROWS_WITH(codebook(k, codebook_family::d8), Catch::Contains("codebook d8 exists for k = 9, 10, 11"));
}

TEST_CASE("d8 structure check: a table off the symmetry, a base point on a mirror line or off the grid is refused", "[codebook][d8]") {
    const int k = 9;
    const std::size_t n = std::size_t{1} << k;
    std::vector<float> xy(d8_table(k), d8_table(k) + 2 * n);
    REQUIRE_NOTHROW(check_d8_structure(xy.data(), k, d8_grid(k), "d8-k9"));
    auto broken = xy;
    broken[2 * (3 * n / 8 + 5)] = std::nextafter(broken[2 * (3 * n / 8 + 5)], 0.0f);  // one image off by an ulp
    REQUIRE_THROWS_WITH(check_d8_structure(broken.data(), k, d8_grid(k), "d8-k9"),
                        Catch::Contains("d8-k9") && Catch::Contains("entry 197 is not T_3 of base point 5"));
    broken = xy;
    broken[2 * 7 + 1] = broken[2 * 7];  // base point 7 on the diagonal
    REQUIRE_THROWS_WITH(check_d8_structure(broken.data(), k, d8_grid(k), "d8-k9"),
                        Catch::Contains("base point 7 is not strictly inside the wedge 0 < y < x"));
    broken = xy;
    broken[2 * 9 + 1] += d8_grid(k) / 4;  // base point 9 off the grid (its images moved with it: only the grid breaks)
    for (int s = 1; s < 8; ++s) {
        float x = broken[2 * 9], y = broken[2 * 9 + 1];
        d8_transform(s, x, y);
        broken[2 * (s * n / 8 + 9)] = x, broken[2 * (s * n / 8 + 9) + 1] = y;
    }
    REQUIRE_THROWS_WITH(check_d8_structure(broken.data(), k, d8_grid(k), "d8-k9"),
                        Catch::Contains("base point 9 is not on the grid"));
}

TEST_CASE("d8 codebooks: MSE per coordinate / 2^-k within 3 % of lm2d at the same k (10^6 samples)", "[codebook][d8]") {
    for (int k = 9; k <= 11; ++k) {
        const double d8 = tools::codebook_mse(tools::codebook_for(k, codebook_family::d8), 1'000'000, 0x5eed + k),
                     lm = tools::codebook_mse(tools::codebook_for(k), 1'000'000, 0x5eed + k);
        INFO("k = " << k << " d8 " << d8 / std::ldexp(1.0, -k) << " lm2d " << lm / std::ldexp(1.0, -k));
        CHECK(d8 / std::ldexp(1.0, -k) <= 2.08);
        CHECK(d8 <= 1.03 * lm);
        CHECK(d8 >= lm * 0.995);  // the constrained family cannot beat the unconstrained optimum by more than noise
    }
}

TEST_CASE("d8: encode -> format-3 container -> read -> decode gives the same tensor and bits", "[container][d8]") {
    temp_dir dir;
    const std::int64_t rows = 9, cols = 300;
    const auto w = tools::gaussian_vector(21, std::size_t(rows * cols), 0.03);
    params p;
    p.bits = 11;
    p.block = 128;
    p.family = codebook_family::d8;
    const quantized_tensor q = encode(w.data(), rows, cols, p);
    REQUIRE(q.family == codebook_family::d8);
    const std::vector<float> d = decode(q);
    params lm = p;
    lm.family = codebook_family::lm2d;
    const quantized_tensor ql = encode(w.data(), rows, cols, lm);
    REQUIRE(q.codes != ql.codes);  // the family changes the codes, not just a label
    {
        quantized_tensor relabelled = ql;  // lm2d codes read as d8 decode differently: decode follows the family
        relabelled.family = codebook_family::d8;
        REQUIRE(decode(relabelled) != decode(ql));
    }

    const std::string path = dir / "d8.qamw.safetensors";
    container_writer cw(path);
    cw.declare_quantized("w.d8", rows, cols, p, false, io::dtype::f32);
    cw.declare_quantized("w.lm2d", rows, cols, lm, false, io::dtype::f32);
    cw.begin();
    cw.write_quantized("w.d8", q);
    cw.write_quantized("w.lm2d", ql);
    cw.commit();

    const container c = container::open(path, true);
    REQUIRE(c.version() == 3);
    REQUIRE(format_version == 3);
    REQUIRE(c.meta("w.d8").at("codebook").as_string() == "d8-k11");
    REQUIRE(c.meta("w.lm2d").at("codebook").as_string() == "lm2d-k11");
    const quantized_view v = c.view("w.d8");
    REQUIRE(v.family == codebook_family::d8);
    REQUIRE(c.view("w.lm2d").family == codebook_family::lm2d);
    REQUIRE(std::memcmp(v.codes, q.codes.data(), q.codes.size()) == 0);
    const std::vector<float> back = decode(v);
    REQUIRE(std::memcmp(back.data(), d.data(), 4 * d.size()) == 0);
    REQUIRE(decode(c.view("w.lm2d")) == decode(ql));
}

TEST_CASE("d8: refused for k outside 9..11 by params, views, pipeline specs; pipeline d8:K selects it", "[codec][d8]") {
    const auto w = tools::gaussian_vector(5, 4 * 64, 0.03);
    params p;
    p.bits = 8;
    p.family = codebook_family::d8;
    REQUIRE_THROWS_WITH(encode(w.data(), 4, 64, p), Catch::Contains("codebook d8 exists for k = 9, 10, 11"));
    p.bits = 10;
    quantized_tensor q = encode(w.data(), 4, 64, p);
    REQUIRE(q.family == codebook_family::d8);
    REQUIRE_THROWS_WITH(encode(tools::codebook_for(10), w.data(), 4, 64, p), Catch::Contains("lm2d-k10 given for d8-k10"));
    q.bits = 12;  // a view that claims d8 at a k without a d8 codebook
    q.codes.assign(q.rows * q.row_bytes(), 0);
    REQUIRE_THROWS_WITH(validate(q), Catch::Contains("codebook d8 exists for k = 9, 10, 11"));

    const pipeline_spec s = parse_pipeline("scale,norm,fwht:256,d8:11,pack");
    REQUIRE(s.quantizer == "d8");
    REQUIRE(s.codec.family == codebook_family::d8);
    REQUIRE(s.codec.bits == 11);
    REQUIRE(to_string(s) == "scale,norm,fwht:256,d8:11,pack");
    REQUIRE(parse_pipeline("norm,fwht,lm2d:11,pack").codec.family == codebook_family::lm2d);
    REQUIRE_THROWS_WITH(parse_pipeline("norm,fwht,d8:8,pack"),
                        Catch::Contains("'d8:8'") && Catch::Contains("codebook d8 exists for k = 9, 10, 11"));
    REQUIRE_THROWS_WITH(parse_codebook_family("d4", "--codebook"), Catch::Contains("--codebook: unknown codebook family 'd4'"));
}
