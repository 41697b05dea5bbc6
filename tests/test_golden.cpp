// Golden-vector tests: the format frozen as bytes. tests/golden/ (written by tools/gen_golden.cpp; cases and layout in
// tools/common/golden.hpp) holds fixed inputs' exact encodings and decodings, and one complete container file. On every
// ISA this machine runs, re-encoding the same input must give byte-identical codes, norms, exponent and scales, and
// decoding the stored encoding must give bit-identical floats; a decoder written from docs/FORMAT.md alone (below, independent of qamw's decoder) must give
// the same bits too. Run under qemu-aarch64 by scripts/arm.sh, this is the portability proof of the format.
#include <common/golden.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef QAMW_SOURCE_DIR
#define QAMW_SOURCE_DIR "."
#endif

using namespace qamw;
namespace fs = std::filesystem;

namespace {

namespace golden = qamw::tools::golden;

const fs::path golden_dir = fs::path(QAMW_SOURCE_DIR) / "tests" / "golden";

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Every stored case, in the order of golden::specs(); a missing file is an empty record named after its spec.
std::vector<golden::record> load_all() {
    std::vector<golden::record> out;
    for (const golden::spec& s : golden::specs()) {
        const fs::path p = golden_dir / s.name;
        if (!fs::exists(p)) {
            golden::record missing;
            missing.s.name = s.name + " (missing)";
            out.push_back(missing);
            continue;
        }
        out.push_back(golden::from_bytes(read_bytes(p), s.name));
    }
    return out;
}

/// Bitwise equality of two float arrays.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), 4 * a.size()) == 0;
}

/// docs/FORMAT.md §1 "Codebooks": the point of code c. lm2d: entry c of the table. d8: s = c >> (k − 3),
/// b = c & (n_b − 1), T_s of base point b (the first n_b entries of the table), T_s = swap if s & 4, then negate x if
/// s & 1, negate y if s & 2.
void spec_point(const quantized_tensor& q, std::uint32_t c, float& x, float& y) {
    const int k = q.bits;
    if (q.family == codebook_family::lm2d) {
        const float* table = lm2d_table(k);  // x0 y0 x1 y1 … as in lm2d_kKK.hpp
        x = table[2 * c], y = table[2 * c + 1];
        return;
    }
    const float* base = d8_table(k);  // its first 2^k / 8 entries are the base points
    const std::uint32_t s = c >> (k - 3), b = c & ((1u << (k - 3)) - 1);
    x = base[2 * b], y = base[2 * b + 1];
    if (s & 4) std::swap(x, y);
    if (s & 1) x = -x;
    if (s & 2) y = -y;
}

/// docs/FORMAT.md §1 "Reconstruction", step by step, sharing nothing with qamw's decoder but the codebook table and
/// the half-precision conversion.
std::vector<float> spec_decode(const quantized_tensor& q) {
    const std::int64_t n_pad = q.layout.padded, B = q.layout.block, cols = q.cols();
    const int k = q.bits;
    const std::size_t row_bytes = (static_cast<std::size_t>(n_pad / 2) * static_cast<std::size_t>(k) + 7) / 8;
    std::vector<float> out(static_cast<std::size_t>(q.rows * cols)), t(static_cast<std::size_t>(n_pad));
    for (std::int64_t i = 0; i < q.rows; ++i) {
        float* dst = out.data() + i * cols;
        const std::uint16_t h = q.norms.f16[static_cast<std::size_t>(i)];
        if (h == 0) {
            std::fill(dst, dst + cols, 0.0f);
            continue;
        }
        const std::uint8_t* row = q.codes.data() + static_cast<std::size_t>(i) * row_bytes;
        for (std::int64_t p = 0; p < n_pad / 2; ++p) {  // 1. index p occupies stream bits [p·k, p·k + k)
            std::uint32_t c = 0;
            for (int b = 0; b < k; ++b) {
                const std::int64_t bit = p * k + b;
                c |= static_cast<std::uint32_t>(row[bit / 8] >> (bit % 8) & 1u) << b;
            }
            spec_point(q, c, t[static_cast<std::size_t>(2 * p)], t[static_cast<std::size_t>(2 * p + 1)]);
        }
        for (std::int64_t base = 0; base < n_pad; base += B)  // 2. butterflies, h = 1, 2, 4, …, B/2
            for (std::int64_t hd = 1; hd < B; hd *= 2)
                for (std::int64_t j = base; j < base + B; ++j)
                    if ((j - base) % (2 * hd) < hd) {
                        float a = t[static_cast<std::size_t>(j)], b = t[static_cast<std::size_t>(j + hd)];
                        t[static_cast<std::size_t>(j)] = a + b;
                        t[static_cast<std::size_t>(j + hd)] = a - b;
                    }
        // 3. r̂ = f16(h)·2^e; g = f32(r̂ / √(n_pad·B)) in double; t ← (t·g)·d
        const float rhat = std::ldexp(detail::f16_to_f32(h), q.norms.exp2);
        const float g = static_cast<float>(double(rhat) / std::sqrt(double(n_pad) * double(B)));
        for (std::int64_t j = 0; j < cols; ++j) {
            const std::uint64_t w = detail::splitmix64(q.seed + static_cast<std::uint64_t>(j / 64) * 0x9e3779b97f4a7c15ull);
            const float d = (w >> (j % 64) & 1u) ? -1.0f : 1.0f;
            float v = (t[static_cast<std::size_t>(j)] * g) * d;
            if (!q.col_scales.empty()) v /= detail::f16_to_f32(q.col_scales[static_cast<std::size_t>(j)]);  // 4.
            dst[j] = v;
        }
    }
    return out;
}

/// Calls f(case, kernels) for every stored case with the kernels of every ISA the machine runs.
template <class F>
void on_every_isa(F f) {
    const auto cases = load_all();
    for (isa id : available_isas()) {
        for (const auto& g : cases) {
            INFO(g.s.name << " on " << isa_name(id));
            f(g, *kernels_for(id));
        }
    }
}

}  // namespace

TEST_CASE("golden vectors: every case of the list is stored, as specified", "[golden]") {
    const auto specs = golden::specs();
    const auto stored = load_all();
    REQUIRE(specs.size() == 87);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(golden_dir)) files += e.path().extension() == ".bin";
    CHECK(files == specs.size());  // no stale files either
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const golden::spec &want = specs[i], &got = stored[i].s;
        INFO(got.name);
        CHECK(got.name == want.name);
        CHECK((got.rows == want.rows && got.cols == want.cols && got.bits == want.bits && got.block == want.block));
        CHECK((got.type == want.type && got.scaled == want.scaled && got.family == want.family));
        CHECK((got.sign_seed == want.sign_seed && got.input_seed == want.input_seed));
        CHECK_NOTHROW(validate(stored[i].q));
        CHECK(golden::checksum(golden::make_input(want)) == stored[i].input_fnv);  // the recipe has not drifted
    }
}

TEST_CASE("golden vectors: byte-identical encodings on every ISA and thread count", "[golden][isa]") {
    on_every_isa([](const golden::record& g, const kernel_table& k) {
        const golden::input in = golden::make_input(g.s);
        const quantized_tensor q = golden::encode_case(g.s, in, k.id == isa::scalar ? 1 : 3, k);
        CHECK(q.layout.block == g.q.layout.block);
        CHECK(q.layout.padded == g.q.layout.padded);
        CHECK(q.norms.exp2 == g.q.norms.exp2);
        CHECK(q.norms.f16 == g.q.norms.f16);
        CHECK(q.col_scales == g.q.col_scales);
        if (q.codes != g.q.codes) {
            std::size_t first = 0;
            while (first < std::min(q.codes.size(), g.q.codes.size()) && q.codes[first] == g.q.codes[first]) ++first;
            FAIL_CHECK("codes differ from byte " << first << " (of " << g.q.codes.size() << ")");
        }
    });
}

TEST_CASE("golden vectors: bit-identical decodings on every ISA", "[golden][isa]") {
    on_every_isa([](const golden::record& g, const kernel_table& k) { CHECK(same_bits(decode(g.q, serial{}, k), g.decoded)); });
}

TEST_CASE("golden vectors: a decoder written from docs/FORMAT.md gives the stored bits", "[golden][format]") {
    for (const auto& g : load_all()) {
        INFO(g.s.name);
        CHECK(same_bits(spec_decode(g.q), g.decoded));
    }
}

TEST_CASE("golden container: the writer reproduces the stored file byte for byte, and it reads back", "[golden]") {
    const auto cases = load_all();
    const fs::path stored = golden_dir / "container.qamw.safetensors";
    // per-process names: scripts/arm.sh runs two test processes side by side
    const fs::path fresh =
        fs::temp_directory_path() / ("qamw_test_golden_container_" + std::to_string(::getpid()) + ".qamw.safetensors");
    golden::write_container(fresh.string(), cases);
    const auto want = read_bytes(stored), got = read_bytes(fresh);
    fs::remove(fresh);
    REQUIRE(!want.empty());
    CHECK(got == want);

    // The current format (3, with d8 tensors), format 2 (payload checksums, lm2d only) and format 1 (no checksums)
    // read back to the same tensors.
    for (const auto& [file, version] : {std::pair{stored, 3}, std::pair{golden_dir / "container_v2.qamw.safetensors", 2},
                                        std::pair{golden_dir / "container_v1.qamw.safetensors", 1}}) {
    INFO(file.string());
    const container c = container::open(file.string(), true);
    CHECK(c.version() == version);
    std::size_t n = 0;
    for (const auto& g : cases) {
        if (!golden::in_container(g.s) || (version < 3 && g.s.family != codebook_family::lm2d)) continue;
        INFO(g.s.name);
        ++n;
        CHECK(c.verify(golden::container_name(g.s)) == (version >= 2));
        const quantized_view q = c.view(golden::container_name(g.s));
        const quantized_view want = g.q.view();
        CHECK(std::memcmp(q.codes, want.codes, want.code_bytes()) == 0);
        CHECK(std::memcmp(q.norms, want.norms, 2 * std::size_t(want.rows)) == 0);
        CHECK(q.norm_exp2 == want.norm_exp2);
        CHECK(!q.scales == !want.scales);
        if (q.scales) CHECK(std::memcmp(q.scales, want.scales, 2 * std::size_t(want.cols())) == 0);
        CHECK(q.seed == want.seed);
        CHECK(q.family == g.s.family);
        CHECK(c.meta(golden::container_name(g.s)).at("codebook").as_string() == codebook_id(g.s.family, g.s.bits));
        CHECK(same_bits(decode(q), g.decoded));
    }
    CHECK(n == (version == 3 ? 24u : 18u));
    CHECK(c.quantized_names().size() == n);
    }
}

TEST_CASE("golden container: a changed payload byte or parameter fails its checksum, naming the tensor", "[golden][container]") {
    const auto bytes = read_bytes(golden_dir / "container.qamw.safetensors");
    const fs::path copy =
        fs::temp_directory_path() / ("qamw_test_golden_tampered_" + std::to_string(::getpid()) + ".qamw.safetensors");
    auto write = [&](const std::vector<std::uint8_t>& b) {
        std::ofstream(copy, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    };
    const container c = container::open((golden_dir / "container.qamw.safetensors").string());
    const std::string name = c.quantized_names()[3];
    const std::size_t header = 8 + std::size_t(bytes[0]) + (std::size_t(bytes[1]) << 8) + (std::size_t(bytes[2]) << 16);
    const auto offset = [&](const std::string& tensor) {
        return std::size_t(c.file().view(tensor).data - c.file().view(c.file().tensors().front().name).data) + header;
    };
    for (const std::string& part : {container_names::codes(name), container_names::norms(name)}) {
        INFO(part);
        auto b = bytes;
        b[offset(part)] ^= 0x10;  // one bit of the first code byte / norm
        write(b);
        const container t = container::open(copy.string());
        CHECK_THROWS_WITH(t.verify(name), Catch::Contains("'" + name + "'") && Catch::Contains("payload checksum"));
        CHECK_THROWS_AS(container::open(copy.string(), true), error);
        for (const auto& other : t.quantized_names())
            if (other != name) CHECK(t.verify(other));
    }
    // The seed lives in the header's metadata: change one hex digit of this tensor's seed.
    std::string text(bytes.begin(), bytes.end());
    const std::size_t at = text.find("\"seed\\\":\\\"", text.find("qamw:" + name));
    REQUIRE(at != std::string::npos);
    auto b = bytes;
    const std::size_t digit = at + 11;
    b[digit] = b[digit] == '0' ? '1' : '0';
    write(b);
    CHECK_THROWS_WITH(container::open(copy.string(), true), Catch::Contains("payload checksum"));
    fs::remove(copy);
}

TEST_CASE("golden container: a d8 codebook in a file of format version < 3 is refused, naming file, tensor and rule",
          "[golden][container]") {
    auto bytes = read_bytes(golden_dir / "container.qamw.safetensors");
    std::string text(bytes.begin(), bytes.end());
    const std::string key = "\"format_version\":\"3\"";
    const std::size_t at = text.find(key);
    REQUIRE(at != std::string::npos);
    bytes[at + key.size() - 2] = '2';  // same length: the header stays valid
    const fs::path copy =
        fs::temp_directory_path() / ("qamw_test_golden_d8_v2_" + std::to_string(::getpid()) + ".qamw.safetensors");
    std::ofstream(copy, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    CHECK_THROWS_WITH(container::open(copy.string()),
                      Catch::Contains(copy.string()) && Catch::Contains("tensor 'd8.k") &&
                          Catch::Contains("in a format version 2 file (d8 codebooks exist from format version 3)"));
    fs::remove(copy);
}
