// Engine API tests (qamw/engine.hpp, qamw/qamw.h): row ranges compose to the whole product on every ISA, one-row
// decodes equal the rows of a whole decode, the last rows' overread stays inside a padded copy, views of a container
// point into its mapping, misuse of lifetimes does not compile, the library holds no threads, the integer path's row
// ranges, batches and kernel forms agree bit for bit and its misuse is refused, and the engine example and the C
// program give qamw's own products bit for bit.
#include "common/metrics.hpp"
#include "common/product.hpp"
#include "common/quantize_model.hpp"
#include "temp_dir.hpp"

#include <qamw/codec.hpp>
#include <qamw/container.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>
#include <qamw/pipeline.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <type_traits>

#include <unistd.h>

using namespace qamw;
namespace fs = std::filesystem;

namespace {

template <class T, class = void>
struct can_view : std::false_type {};
template <class T>
struct can_view<T, std::void_t<decltype(std::declval<T>().view())>> : std::true_type {};

// A view of a temporary would dangle: view() of an rvalue tensor must not compile; of an lvalue it must.
static_assert(can_view<const quantized_tensor&>::value, "view() of a named tensor");
static_assert(!can_view<quantized_tensor>::value, "view() of a temporary tensor must not compile");
static_assert(!can_view<const quantized_tensor&&>::value, "view() of a temporary tensor must not compile");
// A prepared tensor is built from a view only, never from an owning tensor it would silently copy or outlive.
static_assert(!std::is_constructible_v<prepared_tensor, quantized_tensor>, "prepared_tensor from a temporary tensor");
static_assert(!std::is_constructible_v<tools::matmul, quantized_tensor, const kernel_table&>, "matmul from a temporary");

/// A quantized tensor whose codes sit in a heap block of exactly code_bytes (so AddressSanitizer sees any overread).
struct exact_codes {
    quantized_tensor q;
    std::unique_ptr<std::uint8_t[]> codes;
    quantized_view view;
    exact_codes(std::int64_t rows, std::int64_t cols, int bits, std::uint64_t seed) {
        const auto w = tools::gaussian_vector(seed, std::size_t(rows * cols), 0.03);
        params p;
        p.bits = bits;
        p.block = 64;
        q = encode(w.data(), rows, cols, p);
        codes.reset(new std::uint8_t[q.codes.size()]);
        std::memcpy(codes.get(), q.codes.data(), q.codes.size());
        view = q.view();
        view.codes = codes.get();
    }
};

/// A temporary directory holding the vendored stories260K quantized at k bits per pair (s.qamw.safetensors).
struct stories_container {
    test::temp_dir dir{"qamw_engine"};
    std::string path = dir / "s.qamw.safetensors";
    explicit stories_container(int k) {
        tools::quantize_options o;
        o.codec.bits = k;
        tools::quantize_checkpoint(io::checkpoint::open(std::string(QAMW_SOURCE_DIR) + "/examples/data/stories260K"), path, o);
    }
};

std::vector<std::uint8_t> file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("engine: row ranges on any split give the whole product and decode, on every ISA", "[engine][isa]") {
    for (auto [rows, cols, bits] : std::vector<std::tuple<int, int, int>>{{1, 1, 4}, {7, 40, 9}, {70, 172, 11}, {129, 256, 8}}) {
        const exact_codes t0(rows, cols, bits, 11);
        const prepared_tensor t(t0.view);
        const auto x = tools::gaussian_vector(12, 3 * std::size_t(cols));
        for (isa id : available_isas()) {
            INFO("isa " << isa_name(id) << " shape " << rows << "x" << cols << " k " << bits);
            const kernel_table& k = *kernels_for(id);
            std::vector<float> xt(3 * t.padded());
            for (int b = 0; b < 3; ++b) rotate(t, x.data() + b * cols, xt.data() + b * t.padded(), k);

            std::vector<float> y(rows), ys(rows), Y(3 * rows), Ys(3 * rows, -1), gemm_scratch(t.gemm_scratch_floats());
            dot_rows(t, xt.data(), 0, rows, y.data(), k);
            gemm_rows(t, xt.data(), 3, 0, rows, Y.data(), rows, gemm_scratch.data(), k);
            for (int r0 = 0; r0 < rows;) {  // uneven ranges, including single rows
                const int r1 = std::min(rows, r0 + 1 + r0 % 5);
                dot_rows(t, xt.data(), r0, r1, ys.data() + r0, k);
                gemm_rows(t, xt.data(), 3, r0, r1, Ys.data() + r0, rows, gemm_scratch.data(), k);
                r0 = r1;
            }
            CHECK(std::memcmp(y.data(), ys.data(), 4 * y.size()) == 0);
            CHECK(std::memcmp(Y.data(), Ys.data(), 4 * Y.size()) == 0);

            const std::vector<float> whole = decode(t0.view, serial{}, k);
            std::vector<float> row(static_cast<std::size_t>(cols)), scratch(t.decode_scratch_floats());
            for (int i = 0; i < rows; ++i) {
                decode_rows(t, i, i + 1, row.data(), scratch.data(), k);
                REQUIRE(std::memcmp(row.data(), whole.data() + std::size_t(i) * cols, 4 * row.size()) == 0);
            }
        }
    }
}

TEST_CASE("engine: bad row ranges and inconsistent views are refused", "[engine][errors]") {
    const exact_codes t0(5, 64, 8, 13);
    const prepared_tensor t(t0.view);
    std::vector<float> xt(t.padded()), y(8);
    CHECK_THROWS_WITH(dot_rows(t, xt.data(), 0, 6, y.data()), Catch::Contains("row range [0, 6)"));
    CHECK_THROWS_AS(dot_rows(t, xt.data(), 3, 2, y.data()), error);
    CHECK_THROWS_AS(dot_rows(t, xt.data(), -1, 2, y.data()), error);
    quantized_view v = t0.view;
    v.norm_exp2 = max_norm_exp2 + 1;  // would decode to Inf
    CHECK_THROWS_WITH(prepared_tensor(v), Catch::Contains("exponent"));
    v = t0.view;
    v.bits = 13;
    CHECK_THROWS_AS(prepared_tensor(v), error);
}

TEST_CASE("engine integer path: row ranges, batches and kernel forms give the same bits, on every ISA", "[engine][int][isa]") {
    for (auto [rows, cols, bits] : std::vector<std::tuple<int, int, int>>{{1, 1, 4}, {7, 40, 9}, {33, 96, 7}, {70, 172, 11}, {129, 256, 8}}) {
        const exact_codes t0(rows, cols, bits, 17);  // AddressSanitizer sees any read past the codes
        const prepared_tensor t(t0.view, nullptr, true);
        constexpr std::size_t m = 3;
        const std::size_t np = t.padded(), ab = t.int_activation_bytes();
        REQUIRE(ab % 64 == 0);
        const auto x = tools::gaussian_vector(18, m * std::size_t(cols));
        std::vector<float> xt(m * np);
        for (std::size_t b = 0; b < m; ++b) rotate(t, x.data() + b * cols, xt.data() + b * np, ref_kernels{});
        for (isa id : available_isas()) {
            INFO("isa " << isa_name(id) << " shape " << rows << "x" << cols << " k " << bits);
            const kernel_table& k = *kernels_for(id);
            std::vector<std::uint8_t> act(m * ab);
            for (std::size_t b = 0; b < m; ++b) quantize_activation(t, xt.data() + b * np, act.data() + b * ab, k);
            std::vector<float> y(m * rows), ys(m * rows, -1), Y(m * rows), Ys(m * rows, -1);
            std::vector<std::int32_t> scratch(t.int_gemm_scratch_words());
            for (std::size_t b = 0; b < m; ++b) int_dot_rows(t, act.data() + b * ab, 0, rows, y.data() + b * rows, k);
            int_gemm_rows(t, act.data(), m, 0, rows, Y.data(), rows, scratch.data(), k);
            for (int r0 = 0; r0 < rows;) {  // uneven ranges, including single rows
                const int r1 = std::min(rows, r0 + 1 + r0 % 7);
                for (std::size_t b = 0; b < m; ++b) int_dot_rows(t, act.data() + b * ab, r0, r1, ys.data() + b * rows + r0, k);
                int_gemm_rows(t, act.data(), m, r0, r1, Ys.data() + r0, rows, scratch.data(), k);
                r0 = r1;
            }
            CHECK(std::memcmp(y.data(), ys.data(), 4 * y.size()) == 0);
            CHECK(std::memcmp(y.data(), Y.data(), 4 * y.size()) == 0);  // the batched product = the row products
            CHECK(std::memcmp(Y.data(), Ys.data(), 4 * Y.size()) == 0);
            // the inlinable form of the same ISA (ref_kernels for scalar, native_kernels for the compiler's -march)
            std::vector<float> z(m * rows, -1);
            if (id == isa::scalar) int_gemm_rows(t, act.data(), m, 0, rows, z.data(), rows, scratch.data(), ref_kernels{});
            else if (id == native_kernels::id) int_gemm_rows(t, act.data(), m, 0, rows, z.data(), rows, scratch.data(), native_kernels{});
            else continue;
            CHECK(std::memcmp(z.data(), Y.data(), 4 * z.size()) == 0);
        }
    }
}

TEST_CASE("engine integer path: misuse and non-finite activations are refused", "[engine][int][errors]") {
    const exact_codes t0(5, 64, 8, 19), t1(5, 96, 8, 20);
    const prepared_tensor plain(t0.view), t(t0.view, nullptr, true), other(t1.view, nullptr, true);
    std::vector<float> xt(t.padded(), 0.5f), y(8);
    alignas(64) static std::uint8_t act[2 * 1024];
    REQUIRE(2 * t.int_activation_bytes() <= sizeof act);
    CHECK(!plain.has_integer());
    CHECK_THROWS_WITH(quantize_activation(plain, xt.data(), act, ref_kernels{}), Catch::Contains("integer = true"));
    CHECK_THROWS_WITH(int_dot_rows(plain, act, 0, 5, y.data(), ref_kernels{}), Catch::Contains("integer = true"));
    CHECK_THROWS_WITH(quantize_activation(t, xt.data(), act + 1, ref_kernels{}), Catch::Contains("aligned"));

    quantize_activation(t, xt.data(), act, ref_kernels{});  // q8 (the reference has it)
    int_dot_rows(t, act, 0, 5, y.data(), ref_kernels{});
    CHECK_THROWS_WITH(int_dot_rows(t, act, 0, 6, y.data(), ref_kernels{}), Catch::Contains("row range [0, 6)"));
    CHECK_THROWS_WITH(int_dot_rows(other, act, 0, 5, y.data(), ref_kernels{}), Catch::Contains("48 pairs"));
    // the second of two activations is not one
    std::memset(act + t.int_activation_bytes(), 0, t.int_activation_bytes());
    std::vector<std::int32_t> scratch(t.int_gemm_scratch_words());
    CHECK_THROWS_WITH(int_gemm_rows(t, act, 2, 0, 5, y.data(), 5, scratch.data(), ref_kernels{}),
                      Catch::Contains("quantize_activation"));
    // a q8 activation read by a kernel set that runs k = 8 on q16 (a table without its q8 kernel: not every build has one)
    kernel_table no_q8 = *kernels_for(available_isas().back());
    no_q8.dot_rows_q8 = nullptr;
    no_q8.q8_max_bits = 0;
    CHECK_THROWS_WITH(int_dot_rows(t, act, 0, 5, y.data(), no_q8), Catch::Contains("q16 path"));

    for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
        xt[37] = bad;
        for (isa id : available_isas()) {
            INFO("isa " << isa_name(id) << " value " << bad);
            try {
                quantize_activation(t, xt.data(), act, *kernels_for(id));
                FAIL("a non-finite activation was quantized");
            } catch (const error& e) {
                CHECK(e.code() == errc::non_finite);
                CHECK_THAT(e.what(), Catch::Contains("xt[37]"));
            }
        }
    }
}

TEST_CASE("encode refuses rows whose decode would not be finite", "[engine][errors]") {
    std::vector<float> w(64, 3e37f);  // finite, but the row norm exceeds the format's 2^99
    params p;
    p.bits = 8;
    CHECK_THROWS_WITH(encode(w.data(), 1, 64, p), Catch::Contains("row 0") && Catch::Contains("finite"));
    std::vector<float> ok(64, 1e20f);
    const std::vector<float> d = decode(encode(ok.data(), 1, 64, p));
    for (float v : d) REQUIRE(std::isfinite(v));
}

TEST_CASE("container views point into the mapping: opening copies no payload", "[engine][container]") {
    const stories_container s(8);
    const container c = container::open(s.path);
    REQUIRE(!c.quantized_names().empty());
    for (const auto& name : c.quantized_names()) {
        const quantized_view v = c.view(name);
        CHECK(v.codes == c.file().view(container_names::codes(name)).data);
        CHECK(v.norms == c.file().view(container_names::norms(name)).data);
    }
}

TEST_CASE("the library holds no threads: no <thread> or std::thread under include/qamw", "[engine]") {
    for (const auto& e : fs::recursive_directory_iterator(std::string(QAMW_SOURCE_DIR) + "/include/qamw")) {
        if (!e.is_regular_file()) continue;
        const auto b = file_bytes(e.path().string());
        const std::string s(b.begin(), b.end());
        INFO(e.path().string());
        CHECK(s.find("std::thread") == std::string::npos);
        CHECK(s.find("<thread>") == std::string::npos);
    }
}

#if defined(QAMW_ENGINE_EXAMPLE) && defined(QAMW_CAPI_PROGRAM)
TEST_CASE("the engine example and the C program give qamw's own products bit for bit (the C program also on the integer path)",
          "[engine][capi]") {
    const stories_container s(11);
    const std::string& path = s.path;

    // qamw's own products (tools::matmul, the kernels select_kernels() picks) for the programs' activations: f32
    // (both programs), then the integer path (the C program).
    std::vector<float> ys[2], Ys[2];
    const container c = container::open(path);
    const kernel_table& k = select_kernels();
    constexpr std::size_t m = 4;
    for (int integer = 0; integer < 2; ++integer)
        for (const auto& name : c.quantized_names()) {
            const tools::matmul mm(c.view(name), k, integer == 1);
            const std::size_t n = std::size_t(mm.cols()), rows = std::size_t(mm.rows());
            std::vector<float> x(m * n), y(rows), Y(m * rows);
            for (std::size_t b = 0; b < m; ++b)
                for (std::size_t j = 0; j < n; ++j) x[b * n + j] = float(std::sin(double(j + b)));
            mm.gemv(x.data(), y.data(), 2);
            mm.gemm(x.data(), m, Y.data(), 2);
            ys[integer].insert(ys[integer].end(), y.begin(), y.end());
            Ys[integer].insert(Ys[integer].end(), Y.begin(), Y.end());
        }
    std::vector<std::uint8_t> want, want_c;
    auto append = [](std::vector<std::uint8_t>& out, const std::vector<float>& v) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
        out.insert(out.end(), p, p + 4 * v.size());
    };
    append(want, ys[0]), append(want, Ys[0]);
    want_c = want;
    append(want_c, ys[1]), append(want_c, Ys[1]);

    const std::string ex_out = s.dir / "engine.bin", c_out = s.dir / "capi.bin";
    REQUIRE(std::system((std::string(QAMW_ENGINE_EXAMPLE) + " " + path + " 3 " + ex_out + " > /dev/null").c_str()) == 0);
    REQUIRE(std::system((std::string(QAMW_CAPI_PROGRAM) + " " + path + " " + c_out + " > /dev/null").c_str()) == 0);
    CHECK(file_bytes(ex_out) == want);
    CHECK(file_bytes(c_out) == want_c);
}
#endif

TEST_CASE("pipeline spec strings build the codec's parameters and print back canonically", "[engine][pipeline]") {
    const pipeline_spec p = parse_pipeline("scale,norm,fwht:128,lm2d:9,pack");
    CHECK(p.scale);
    CHECK(p.quantizer == "lm2d");
    CHECK(p.codec.bits == 9);
    CHECK(p.codec.block == 128);
    CHECK(to_string(p) == "scale,norm,fwht:128,lm2d:9,pack");
    const pipeline_spec d = parse_pipeline("norm,fwht,lm2d:11,pack");
    CHECK((!d.scale && d.codec.block == 256 && d.codec.bits == 11));
    CHECK(to_string(parse_pipeline(to_string(d))) == to_string(d));
    // The spec encodes exactly what the C++ API encodes with the same parameters.
    const auto w = tools::gaussian_vector(5, 4 * 300, 0.1);
    CHECK(encode(w.data(), 4, 300, p.codec).codes == encode(w.data(), 4, 300, [] {
              params q;
              q.bits = 9;
              q.block = 128;
              return q;
          }()).codes);
    for (const char* bad : {"", "norm", "fwht:256,norm,lm2d:8,pack", "norm,fwht:100,lm2d:8,pack", "norm,fwht:256,lm2d:13,pack",
                            "norm,fwht:256,lm2d:8", "norm,fwht:256,lm2d:8,pack,pack", "norm,fwht:256,polar:8,pack",
                            "norm,fwht:256,lm2d:x,pack", "scale,scale,norm,fwht,lm2d:8,pack", "norm,fwhtx,lm2d:8,pack"}) {
        INFO(bad);
        CHECK_THROWS_WITH(parse_pipeline(bad), Catch::Contains("pipeline '" + std::string(bad) + "'"));
    }
    CHECK(parse_pipeline("norm,fwht,polar:8,pack", {"lm2d", "polar"}).quantizer == "polar");
}
