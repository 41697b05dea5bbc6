// Container tests: checkpoint → container → load round trip on the vendored model, byte-identical re-quantization,
// dequantize back to a plain checkpoint, and rejection (with the file and tensor named) of hostile containers.
#include "common/quantize_model.hpp"
#include "temp_dir.hpp"

#include <qamw/container.hpp>
#include <qamw/engine.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#ifndef QAMW_SOURCE_DIR
#define QAMW_SOURCE_DIR "."
#endif

using namespace qamw;
namespace fs = std::filesystem;

namespace {

const std::string model_dir = std::string(QAMW_SOURCE_DIR) + "/examples/data/stories260K";

using qamw::test::temp_dir;

std::vector<std::uint8_t> bytes_of(const std::string& p) { return tools::read_file(p); }

tools::quantize_options options(int k) {
    tools::quantize_options o;
    o.codec.bits = k;
    o.threads = 2;
    return o;
}

/// A one-tensor container whose metadata and payloads the test controls.
void write_container(const std::string& path, const std::string& meta, std::int64_t code_rows, std::int64_t code_cols,
                     const std::string& version = "1") {
    io::safetensors_writer w(path);
    w.set_metadata("format", "qamw");
    w.set_metadata("format_version", version);
    w.set_metadata("qamw:w", meta);
    w.add("w.qamw.codes", io::dtype::u8, {code_rows, code_cols});
    w.add("w.qamw.norms", io::dtype::f16, {code_rows});
    w.add("w.qamw.norm_exp2", io::dtype::i32, {1});
    w.begin();
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(code_rows * code_cols), 0x5a);
    std::vector<std::uint16_t> norms(static_cast<std::size_t>(code_rows), 0x3c00);
    std::int32_t e = 0;
    w.write("w.qamw.codes", codes.data(), codes.size());
    w.write("w.qamw.norms", norms.data(), norms.size() * 2);
    w.write("w.qamw.norm_exp2", &e, 4);
    w.commit();
}

std::string meta_json(int bits, std::int64_t rows, std::int64_t cols, int block, std::int64_t padded,
                      const std::string& checksum) {
    return "{\"rows\":" + std::to_string(rows) + ",\"cols\":" + std::to_string(cols) + ",\"bits\":" +
           std::to_string(bits) + ",\"block\":" + std::to_string(block) + ",\"padded\":" + std::to_string(padded) +
           ",\"seed\":\"51a3c0de5eed0001\",\"codebook\":\"lm2d-k" + std::to_string(bits) +
           "\",\"codebook_checksum\":\"" + checksum + "\",\"source_dtype\":\"F32\",\"scaled\":false}";
}

}  // namespace

TEST_CASE("container round trip on the vendored model; quantizing twice gives identical bytes", "[container]") {
    temp_dir dir;
    io::checkpoint ck = io::checkpoint::open(model_dir);
    auto rep = tools::quantize_checkpoint(ck, dir / "a.qamw.safetensors", options(8));
    tools::quantize_checkpoint(ck, dir / "b.qamw.safetensors", options(8));
    REQUIRE(bytes_of(dir / "a.qamw.safetensors") == bytes_of(dir / "b.qamw.safetensors"));
    REQUIRE(rep.quantized_weights > 0);

    container c = container::open(dir / "a.qamw.safetensors");
    REQUIRE(c.quantized_names().size() == 35);  // 5 layers × 7 linear weights; embeddings stay
    REQUIRE(c.tensor_names() == ck.names());
    for (const auto& name : c.quantized_names()) {
        std::vector<float> w = io::to_f32(ck.view(name));
        params p;
        p.bits = 8;
        auto fresh = encode(w.data(), ck.find(name)->shape[0], ck.find(name)->shape[1], p);
        const quantized_view loaded = c.view(name);
        REQUIRE(loaded.code_bytes() == fresh.codes.size());
        REQUIRE(std::equal(fresh.codes.begin(), fresh.codes.end(), loaded.codes));
        REQUIRE(std::memcmp(loaded.norms, fresh.norms.f16.data(), 2 * fresh.norms.f16.size()) == 0);
        REQUIRE(loaded.norm_exp2 == fresh.norms.exp2);
        // relative MSE of real rotated weights stays near the Gaussian codebook's (k = 8: 1.99 · 2^-8 = 0.0078)
        CHECK(tools::relative_mse(w, decode(loaded)) < 0.0078 * 1.5);
    }
    for (const auto& name : c.plain_names()) {
        auto a = c.file().view(name), b = ck.view(name);
        REQUIRE(std::equal(a.data, a.data + a.nbytes, b.data, b.data + b.nbytes));
    }
    REQUIRE(c.embedded_file("config.json") == bytes_of(model_dir + "/config.json"));
    REQUIRE(c.embedded_file("tokenizer.model") == bytes_of(model_dir + "/tokenizer.model"));
}

TEST_CASE("container rejects hostile metadata and payloads, naming file and tensor", "[container][errors]") {
    temp_dir dir;
    const std::string sum8 = detail::hex64(lm2d_checksum(8));
    const std::string p = dir / "x.qamw.safetensors";
    // 4 × 40: padded 64, 32 pairs × 8 bits = 32 bytes per row
    write_container(p, meta_json(8, 4, 40, 64, 64, sum8), 4, 32);
    REQUIRE_NOTHROW(container::open(p).view("w"));

    write_container(p, meta_json(8, 4, 40, 64, 64, "0123456789abcdef"), 4, 32);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains(p) && Catch::Contains("'w'") && Catch::Contains("checksum"));
    write_container(p, meta_json(8, 4, 40, 64, 64, sum8), 4, 32, "4");
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("format version '4'"));
    for (const char* v : {"2", "3"}) {  // formats 2 and 3 without their checksum tensor
        write_container(p, meta_json(8, 4, 40, 64, 64, sum8), 4, 32, v);
        REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("'w.qamw.checksum' is missing"));
    }
    write_container(p, meta_json(8, 4, 40, 64, 64, sum8), 4, 31);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("w.qamw.codes") && Catch::Contains("expected U8 [4, 32]"));
    write_container(p, meta_json(8, 4, 40, 128, 64, sum8), 4, 32);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("padding rule"));
    write_container(p, meta_json(13, 4, 40, 64, 64, sum8), 4, 32);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("outside [4, 12]"));
    write_container(p, "{\"rows\": 4", 4, 32);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains(p) && Catch::Contains("'w'"));
    write_container(p, meta_json(8, -4, 40, 64, 64, sum8), 4, 32);
    REQUIRE_THROWS_AS(container::open(p), error);

    // a plain safetensors file is not a container
    {
        io::safetensors_writer w(p);
        w.add("x", io::dtype::f32, {1});
        w.begin();
        float v = 1;
        w.write("x", &v, 4);
        w.commit();
    }
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains("not a qamw container"));

    // truncated: cut a valid container in half
    write_container(p, meta_json(8, 4, 40, 64, 64, sum8), 4, 32);
    auto bytes = bytes_of(p);
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()), bytes.size() / 2);
    REQUIRE_THROWS_WITH(container::open(p), Catch::Contains(p));
}

TEST_CASE("quantize to a missing directory fails without leaving a file", "[container][errors]") {
    temp_dir dir;
    io::checkpoint ck = io::checkpoint::open(model_dir);
    REQUIRE_THROWS_AS(tools::quantize_checkpoint(ck, dir / "missing/out.qamw.safetensors", options(7)), error);
    REQUIRE_FALSE(fs::exists(dir / "missing"));
    REQUIRE(fs::is_empty(dir.path));
}

TEST_CASE("a NaN in one tensor stops quantization naming the tensor, leaving no output", "[container][errors]") {
    temp_dir dir;
    io::checkpoint ck = io::checkpoint::open(model_dir);
    {  // a copy of the model with a NaN in one weight
        io::safetensors_writer w(dir / "model.safetensors");
        for (const auto& n : ck.names()) w.add(n, ck.find(n)->type, ck.find(n)->shape);
        w.begin();
        for (const auto& n : ck.names()) {
            auto v = ck.view(n);
            std::vector<std::uint8_t> b(v.data, v.data + v.nbytes);
            if (n == "model.layers.2.mlp.up_proj.weight") {
                float nan = std::nanf("");
                std::memcpy(b.data() + 4 * (3 * 64 + 5), &nan, 4);
            }
            w.write(n, b.data(), b.size());
        }
        w.commit();
    }
    io::checkpoint bad = io::checkpoint::open(dir / "model.safetensors");
    REQUIRE_THROWS_WITH(tools::quantize_checkpoint(bad, dir / "out.qamw.safetensors", options(8)),
                        Catch::Contains("model.layers.2.mlp.up_proj.weight") && Catch::Contains("row 3, column 5 is NaN"));
    REQUIRE_FALSE(fs::exists(dir / "out.qamw.safetensors"));
    REQUIRE(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 1);  // no temporary left
}
