// Tests of qamw/io: mapped_file, atomic_file, the safetensors reader/writer, checkpoints and to_f32.
// Every file is generated here, in a fresh temporary directory; bad files are crafted byte by byte.
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/mapped_file.hpp>
#include <qamw/io/safetensors.hpp>

#include "shared_data.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#ifndef _WIN32
#include "fsize_limit.hpp"

#include <unistd.h>
#endif


namespace fs = std::filesystem;
using namespace qamw::io;

namespace {

using qamw::test::temp_dir;

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string le64(uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
    return s;
}

// [u64 header length][header][data]; `n` overrides the length field.
std::string st_bytes(const std::string& header, const std::string& data, uint64_t n = UINT64_MAX) {
    return le64(n == UINT64_MAX ? header.size() : n) + header + data;
}

// The qamw::error that opening `path` throws (its code and message); fails the test if there is none.
qamw::error open_error(const std::string& path) {
    try {
        safetensors_file::open(path);
    } catch (const qamw::error& e) {
        return e;
    }
    FAIL("safetensors_file::open('" << path << "') did not throw");
    return qamw::error(qamw::errc::format, "");
}

qamw::error checkpoint_error(const std::string& path) {
    try {
        checkpoint::open(path);
    } catch (const qamw::error& e) {
        return e;
    }
    FAIL("checkpoint::open('" << path << "') did not throw");
    return qamw::error(qamw::errc::format, "");
}

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 17 + (i >> 8)) & 0xFF);
    return s;
}

}  // namespace

TEST_CASE("safetensors: dtype names and sizes", "[safetensors]") {
    const dtype all[] = {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64, dtype::i32, dtype::i16,
                         dtype::i8,  dtype::u64, dtype::u32, dtype::u16,  dtype::u8,   dtype::boolean};
    const char* names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"};
    const std::size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 8, 4, 2, 1, 1};
    for (int i = 0; i < 13; ++i) {
        REQUIRE(std::string(dtype_name(all[i])) == names[i]);
        REQUIRE(dtype_size(all[i]) == sizes[i]);
        REQUIRE(parse_dtype(names[i], "ctx") == all[i]);
    }
    REQUIRE_THROWS_WITH(parse_dtype("F8_E4M3", "m.safetensors: tensor 'w'"),
                        "m.safetensors: tensor 'w': unknown dtype 'F8_E4M3'");
    REQUIRE_THROWS_WITH(parse_dtype("f32", ""), "unknown dtype 'f32'");
    try {
        parse_dtype("bf16", "x");
        FAIL("no throw");
    } catch (const qamw::error& e) {
        REQUIRE(e.code() == qamw::errc::unsupported);
    }
    tensor_info t;
    t.shape = {3, 0, 5};
    REQUIRE(t.numel() == 0);
    t.shape = {};
    REQUIRE(t.numel() == 1);
    t.shape = {int64_t{1} << 40, int64_t{1} << 30};
    REQUIRE_THROWS_AS(t.numel(), qamw::error);
    t.shape = {int64_t{1} << 40, int64_t{1} << 30, 0};  // overflowing prefix, but a zero dim
    REQUIRE(t.numel() == 0);
    t.shape = {2, -1};
    REQUIRE_THROWS_AS(t.numel(), qamw::error);
}

TEST_CASE("safetensors: writer -> reader round trip over every dtype", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "model.safetensors";
    struct spec {
        std::string name;
        dtype type;
        std::vector<int64_t> shape;
    };
    const std::vector<spec> specs = {
        {"z.f64", dtype::f64, {3, 5}},      {"a.f32", dtype::f32, {7, 3}},   {"m.f16", dtype::f16, {13}},
        {"b.bf16", dtype::bf16, {2, 3, 4}}, {"empty", dtype::f32, {0, 4}},   {"i64", dtype::i64, {5}},
        {"i32", dtype::i32, {1, 1, 3}},     {"i16", dtype::i16, {9}},        {"i8", dtype::i8, {11}},
        {"u64", dtype::u64, {2}},           {"u32", dtype::u32, {3}},        {"u16", dtype::u16, {5}},
        {"u8", dtype::u8, {17}},            {"flags", dtype::boolean, {6}},  {"scalar", dtype::f32, {}},
        {"empty2", dtype::bf16, {0}},       {"caf\xC3\xA9.w", dtype::u8, {1}},
    };
    std::vector<std::string> payloads;
    {
        safetensors_writer w(path);
        for (const auto& s : specs) w.add(s.name, s.type, s.shape);
        w.set_metadata("format", "pt");
        w.set_metadata("note", "round \"trip\" \xE2\x9C\x93");
        w.set_metadata("format", "qamw");  // replaces
        REQUIRE_FALSE(fs::exists(path));
        w.begin();
        REQUIRE_FALSE(fs::exists(path));  // only the temporary file exists until commit()
        REQUIRE(dir.entries().size() == 1);
        unsigned seed = 0;
        for (const auto& s : specs) {
            tensor_info t;
            t.shape = s.shape;
            std::string bytes = pattern(static_cast<std::size_t>(t.numel()) * dtype_size(s.type), ++seed);
            if (s.type == dtype::boolean)
                for (auto& c : bytes) c = static_cast<char>(c & 1);
            w.write(s.name, bytes.data(), bytes.size());
            payloads.push_back(bytes);
        }
        REQUIRE_FALSE(fs::exists(path));
        w.commit();
    }
    REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});

    // The layout: 8-byte length, compact header starting with '{', padded with spaces to a multiple of 8.
    std::string raw = read_bytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(i)]);
    REQUIRE(n % 8 == 0);
    std::string header = raw.substr(8, n);
    REQUIRE(header.rfind("{\"__metadata__\":{\"format\":\"qamw\",\"note\":", 0) == 0);
    REQUIRE(header.find("\"z.f64\":{\"dtype\":\"F64\",\"shape\":[3,5],\"data_offsets\":[0,120]}") != std::string::npos);
    REQUIRE(json::parse(header, "header").members().size() == specs.size() + 1);

    safetensors_file f = safetensors_file::open(path);
    REQUIRE(f.path() == path);
    REQUIRE(f.file_size() == raw.size());
    REQUIRE(f.data_offset() == 8 + n);
    REQUIRE(f.metadata().size() == 2);
    REQUIRE(f.metadata()[0] == std::make_pair(std::string("format"), std::string("qamw")));
    REQUIRE(*f.find_metadata("note") == "round \"trip\" \xE2\x9C\x93");
    REQUIRE(f.find_metadata("missing") == nullptr);
    REQUIRE(f.tensors().size() == specs.size());
    for (std::size_t i = 1; i < f.tensors().size(); ++i) REQUIRE(f.tensors()[i - 1].end <= f.tensors()[i].begin);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        INFO(specs[i].name);
        const tensor_info* t = f.find(specs[i].name);
        REQUIRE(t != nullptr);
        REQUIRE(t->type == specs[i].type);
        REQUIRE(t->shape == specs[i].shape);
        tensor_view v = f.view(specs[i].name);
        REQUIRE(v.info == t);
        REQUIRE(v.nbytes == payloads[i].size());
        REQUIRE(std::string(reinterpret_cast<const char*>(v.data), v.nbytes) == payloads[i]);
    }
    REQUIRE(f.find("nope") == nullptr);
    REQUIRE_THROWS_WITH(f.view("nope"), path + ": no tensor 'nope'");
    tensor_info foreign;
    REQUIRE_THROWS_AS(f.view(foreign), qamw::error);

    // The file object is movable; views stay valid.
    tensor_view before = f.view("a.f32");
    safetensors_file g = std::move(f);
    REQUIRE(g.view("a.f32").data == before.data);
    REQUIRE(g.view("a.f32").info == before.info);
}

TEST_CASE("safetensors: writer with no tensors and no metadata", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "empty.safetensors";
    safetensors_writer w(path);
    w.begin();
    w.commit();
    REQUIRE(read_bytes(path) == st_bytes("{}      ", ""));
    safetensors_file f = safetensors_file::open(path);
    REQUIRE(f.tensors().empty());
    REQUIRE(f.metadata().empty());
}

TEST_CASE("safetensors: write_part streams tensors in any order and in pieces, to the bytes write() gives",
          "[safetensors]") {
    temp_dir dir;
    const std::vector<std::pair<std::string, std::vector<int64_t>>> decl = {
        {"a", {5}}, {"b", {0}}, {"c", {3, 150000}}, {"d", {2}}};  // c: 1.8 MB, more than atomic_file's buffer
    std::vector<std::string> payloads;
    unsigned seed = 0;
    for (const auto& [name, shape] : decl) {
        tensor_info t;
        t.shape = shape;
        payloads.push_back(pattern(std::size_t(t.numel()) * 4, ++seed));
    }
    auto declare = [&](safetensors_writer& w) {
        w.set_metadata("k", "v");
        for (const auto& [name, shape] : decl) w.add(name, dtype::f32, shape);
        w.begin();
    };
    {
        safetensors_writer w(dir / "seq.st");
        declare(w);
        for (std::size_t i = 0; i < decl.size(); ++i) w.write(decl[i].first, payloads[i].data(), payloads[i].size());
        w.commit();
    }
    const std::string& c = payloads[2];
    {
        safetensors_writer w(dir / "parts.st");
        declare(w);
        w.write_part("d", payloads[3].data(), payloads[3].size());  // the last tensor first
        w.write_part("c", c.data(), 1000);
        w.write_part("a", payloads[0].data(), payloads[0].size());
        w.write_part("c", c.data() + 1000, c.size() - 1007);
        w.write_part("c", c.data() + c.size() - 7, 7);
        w.write_part("b", nullptr, 0);
        w.commit();
    }
    REQUIRE(read_bytes(dir / "parts.st") == read_bytes(dir / "seq.st"));

    SECTION("misuse: undeclared, too many bytes, write() of a partly written tensor, commit with a part missing") {
        const std::string path = dir / "bad.st";
        const float data[5] = {1, 2, 3, 4, 5};
        {
            safetensors_writer w(path);
            REQUIRE_THROWS_WITH(w.write_part("a", data, 4), Catch::Contains("before begin()"));
            declare(w);
            REQUIRE_THROWS_WITH(w.write_part("zz", data, 4),
                                Catch::Contains("write_part('zz'): tensor was not declared"));
            w.write_part("a", data, 8);
            REQUIRE_THROWS_WITH(w.write_part("a", data, 16),
                                Catch::Contains("write_part('a'): 16 bytes, but only 12 of its 20 are left"));
            REQUIRE_THROWS_WITH(w.write("a", data, 20), Catch::Contains("expected 12 (it was partly written)"));
            w.write_part("a", data + 2, 12);
            REQUIRE_THROWS_WITH(w.write_part("a", data, 0), Catch::Contains("but only 0 of its 20 are left"));
            w.write("b", nullptr, 0);  // write() continues in declaration order after the pieces
            w.write_part("c", c.data(), 600);
            w.write_part("d", data, 8);
            REQUIRE_THROWS_WITH(w.commit(), Catch::Contains("tensor 'c' was declared but written only in part "
                                                            "(600 of 1800000 bytes)"));
        }
        REQUIRE_FALSE(fs::exists(path));
        REQUIRE(dir.entries().size() == 2);  // seq.st and parts.st: no temporary file left
    }
}

TEST_CASE("safetensors: thousands of tensors", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "many.safetensors";
    const int count = 3000;
    {
        safetensors_writer w(path);
        for (int i = 0; i < count; ++i) w.add("layers." + std::to_string(i) + ".w", dtype::i32, {i % 3});
        w.begin();
        for (int i = 0; i < count; ++i) {
            int32_t v[2] = {i, -i};
            w.write("layers." + std::to_string(i) + ".w", v, static_cast<std::size_t>(i % 3) * 4);
        }
        w.commit();
    }
    safetensors_file f = safetensors_file::open(path);
    REQUIRE(f.tensors().size() == count);
    for (int i = 0; i < count; i += 7) {
        tensor_view v = f.view("layers." + std::to_string(i) + ".w");
        REQUIRE(v.nbytes == static_cast<std::size_t>(i % 3) * 4);
        if (v.nbytes) {
            int32_t first;
            std::memcpy(&first, v.data, 4);
            REQUIRE(first == i);
        }
    }
    REQUIRE(checkpoint::open(path).names().size() == count);
}

TEST_CASE("safetensors: writer misuse and failures leave no file behind", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "out.safetensors";
    const float data[4] = {1, 2, 3, 4};

    SECTION("declaration errors") {
        safetensors_writer w(path);
        w.add("a", dtype::f32, {4});
        REQUIRE_THROWS_WITH(w.add("a", dtype::f32, {4}), Catch::Contains("duplicate tensor 'a'"));
        REQUIRE_THROWS_WITH(w.add("b", dtype::f32, {2, -1}), Catch::Contains("tensor 'b': invalid shape [2, -1]"));
        w.add("b", dtype::f32, {2});  // a rejected declaration leaves nothing behind
        REQUIRE_THROWS_WITH(w.add("c", dtype::f32, {int64_t{1} << 62, 8}), Catch::Contains("invalid shape"));
        REQUIRE_THROWS_WITH(w.add("__metadata__", dtype::f32, {1}), Catch::Contains("invalid tensor name"));
        REQUIRE_THROWS_WITH(w.add("", dtype::f32, {1}), Catch::Contains("invalid tensor name"));
        REQUIRE_THROWS_WITH(w.add("bad\xFF", dtype::f32, {1}), Catch::Contains("invalid tensor name"));
        REQUIRE_THROWS_WITH(w.set_metadata("k", "\xC0\x80"), Catch::Contains("not valid UTF-8"));
        REQUIRE_THROWS_WITH(w.write("a", data, 16), Catch::Contains("before begin()"));
        REQUIRE_THROWS_WITH(w.commit(), Catch::Contains("before begin()"));
        try {
            w.add("a", dtype::f32, {4});
        } catch (const qamw::error& e) {
            REQUIRE(e.code() == qamw::errc::invalid_argument);
            REQUIRE(std::string(e.what()).find(path) != std::string::npos);
        }
        w.begin();
        REQUIRE_THROWS_WITH(w.add("d", dtype::f32, {1}), Catch::Contains("after begin()"));
        REQUIRE_THROWS_WITH(w.set_metadata("k", "v"), Catch::Contains("after begin()"));
        REQUIRE_THROWS_WITH(w.begin(), Catch::Contains("begin() called twice"));
    }
    SECTION("writes out of order, undeclared, or of the wrong size") {
        safetensors_writer w(path);
        w.add("a", dtype::f32, {4});
        w.add("b", dtype::f32, {2});
        w.begin();
        REQUIRE_THROWS_WITH(w.write("b", data, 8), Catch::Contains("write('b') out of order: expected 'a'"));
        REQUIRE_THROWS_WITH(w.write("zz", data, 8), Catch::Contains("write('zz'): tensor was not declared"));
        REQUIRE_THROWS_WITH(w.write("a", data, 12), Catch::Contains("write('a'): got 12 bytes, expected 16"));
        REQUIRE_THROWS_WITH(w.write("a", nullptr, 16), Catch::Contains("null data"));
        w.write("a", data, 16);
        w.write("b", data, 8);
        REQUIRE_THROWS_WITH(w.write("b", data, 8), Catch::Contains("all declared tensors are written"));
        w.commit();
        REQUIRE(fs::exists(path));
        REQUIRE_THROWS_WITH(w.commit(), Catch::Contains("after commit()"));
        REQUIRE(safetensors_file::open(path).tensors().size() == 2);
    }
    SECTION("a declared tensor was not written") {
        safetensors_writer w(path);
        w.add("a", dtype::f32, {4});
        w.add("b", dtype::f32, {2});
        w.begin();
        w.write("a", data, 16);
        REQUIRE_THROWS_WITH(w.commit(), Catch::Contains("tensor 'b' was declared but not written"));
        REQUIRE(dir.entries().empty());
    }
    SECTION("destroyed before commit") {
        {
            safetensors_writer w(path);
            w.add("a", dtype::f32, {4});
            w.begin();
            w.write("a", data, 16);
            REQUIRE(dir.entries().size() == 1);
        }
        REQUIRE(dir.entries().empty());
    }
    SECTION("the directory does not exist") {
        const std::string missing = dir / "no/such/dir/out.safetensors";
        safetensors_writer w(missing);
        w.add("a", dtype::f32, {4});
        try {
            w.begin();
            FAIL("begin() did not throw");
        } catch (const qamw::error& e) {
            REQUIRE(e.code() == qamw::errc::io);
            REQUIRE_THAT(e.what(), Catch::Contains(missing) && Catch::Contains("No such file or directory"));
        }
        REQUIRE(dir.entries().empty());
    }
    SECTION("an existing file is replaced only by commit()") {
        write_bytes(path, "old contents");
        safetensors_writer w(path);
        w.add("a", dtype::f32, {4});
        w.begin();
        w.write("a", data, 16);
        REQUIRE(read_bytes(path) == "old contents");
        w.commit();
        REQUIRE(to_f32(safetensors_file::open(path).view("a")) == std::vector<float>{1, 2, 3, 4});
        REQUIRE(dir.entries().size() == 1);
    }
}

TEST_CASE("safetensors: reader accepts valid edge cases", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "edge.safetensors";

    SECTION("unpadded header, unaligned data, header order differs from offset order") {
        // Header length 91 (odd) puts the data at an odd file offset.
        std::string h = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        REQUIRE(h.size() % 2 == 1);
        std::string data = std::string("\x00\x00\x80\x3F", 4) + std::string("\x00\x00\x00\xC0", 4);  // 1.0f, -2.0f
        write_bytes(path, st_bytes(h, data));
        safetensors_file f = safetensors_file::open(path);
        REQUIRE(f.tensors()[0].name == "a");
        REQUIRE(f.tensors()[1].name == "b");
        REQUIRE(to_f32(f.view("a")) == std::vector<float>{1.0f});
        REQUIRE(to_f32(f.view("b")) == std::vector<float>{-2.0f});
    }
    SECTION("zero-size tensors anywhere on the tiling, whitespace padding, metadata anywhere") {
        std::string h = "{\"e1\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]},"
                        "\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                        "\"__metadata__\":{},"
                        "\"e2\":{\"shape\":[3,0],\"data_offsets\":[2,2],\"dtype\":\"BF16\"},"
                        "\"e3\":{\"dtype\":\"I64\",\"shape\":[0,7],\"data_offsets\":[2,2]}} \n\t ";
        write_bytes(path, st_bytes(h, "ab"));
        safetensors_file f = safetensors_file::open(path);
        REQUIRE(f.tensors().size() == 4);
        REQUIRE(f.view("e3").nbytes == 0);
        REQUIRE(to_f32(f.view("e2")).empty());
        REQUIRE(f.metadata().empty());
    }
    SECTION("an empty header object and no data") {
        write_bytes(path, st_bytes("{}", ""));
        REQUIRE(safetensors_file::open(path).tensors().empty());
    }
}

TEST_CASE("safetensors: reader rejects malformed files naming the file and the problem", "[safetensors]") {
    temp_dir dir;
    const std::string path = dir / "bad.safetensors";
    const std::string ok_entry = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    const std::string data8(8, '\x01');
    struct bad_case {
        std::string bytes, message;
        qamw::errc code = qamw::errc::format;
    };
    auto entry = [](const std::string& body) { return "{\"w\":{" + body + "}}"; };
    const std::vector<bad_case> cases = {
        {"", "file is shorter than 8 bytes (0 bytes)"},
        {std::string(7, '\0'), "file is shorter than 8 bytes (7 bytes)"},
        {le64(9) + "{}", "header length 9 exceeds the file size (10 bytes)"},
        {le64(UINT64_MAX) + "{}", "exceeds the 100 MiB limit"},
        {le64((uint64_t{100} << 20) + 1) + "{}", "header length 104857601 exceeds the 100 MiB limit"},
        {st_bytes("", ""), "header does not start with '{'"},
        {st_bytes(" {}", ""), "header does not start with '{'"},
        {st_bytes("[]", ""), "header does not start with '{'"},
        {st_bytes("{", ""), "expected a string key, found the end of the input"},
        {st_bytes("{}x", ""), "unexpected data after the JSON value"},
        {st_bytes(std::string("{}\0\0\0\0\0\0", 8), ""), "unexpected data after the JSON value"},  // NUL padding
        {st_bytes("{\"w\xFF\":1}", ""), "invalid UTF-8"},
        {st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," + ok_entry + "}", data8),
         "duplicate key 'w'"},
        {st_bytes("{\"__metadata__\":[]}", ""), "__metadata__ is not an object"},
        {st_bytes("{\"__metadata__\":{\"a\":\"b\",\"n\":1}}", ""), "__metadata__ value for 'n' is not a string"},
        {st_bytes("{\"w\":[]}", ""), "tensor 'w': entry is not an object"},
        {st_bytes(entry("\"shape\":[2],\"data_offsets\":[0,8]"), data8), "tensor 'w': missing 'dtype'"},
        {st_bytes(entry("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), data8), "tensor 'w': missing 'shape'"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2]"), data8), "tensor 'w': missing 'data_offsets'"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1"), data8),
         "tensor 'w': unexpected key 'x'"},
        {st_bytes(entry("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), data8), "'dtype' is not a string"},
        {st_bytes(entry("\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]"), data8),
         "tensor 'w': unknown dtype 'F8_E4M3'", qamw::errc::unsupported},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), data8), "'shape' is not an array"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), data8),
         "shape dims must be non-negative integers, found -2"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), data8),
         "shape dims must be non-negative integers, found 2.0"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), data8),
         "shape dims must be non-negative integers"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), data8),
         "'data_offsets' must be [begin, end]"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), data8),
         "'data_offsets' must be [begin, end]"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}"), data8),
         "'data_offsets' must be [begin, end]"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), data8),
         "'data_offsets' must be [begin, end]"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]"), data8),
         "'data_offsets' must be [begin, end]"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), data8),
         "tensor 'w': data_offsets [8, 0] have begin > end"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]"), data8),
         "tensor 'w': data_offsets [0, 12] exceed the data section (8 bytes)"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), data8),
         "tensor 'w': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12"},
        {st_bytes(entry("\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]"), data8),
         "hold 8 bytes but shape [2] of BF16 needs 4"},
        {st_bytes(entry("\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]"), data8),
         "tensor 'w': shape [4611686018427387904, 4] overflows"},
        {st_bytes(entry("\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]"), data8),
         "tensor 'w': shape [4611686018427387904] overflows"},
        {st_bytes("{\"a\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[0,6]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                  data8),
         "tensor 'b' (bytes 4..8) overlaps tensor 'a' (bytes 0..6)"},
        {st_bytes("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                  data8),
         "tensor 'b' (bytes 4..4) overlaps tensor 'a' (bytes 0..8)"},
        {st_bytes("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                  data8),
         "bytes 2..4 of the data section are not covered by any tensor (hole before tensor 'b')"},
        {st_bytes("{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", data8),
         "bytes 0..4 of the data section are not covered by any tensor (hole before tensor 'b')"},
        {st_bytes("{" + ok_entry + "}", data8 + "xyz"),
         "bytes 8..11 at the end of the data section are not covered by any tensor"},
        {st_bytes("{}", "x"), "bytes 0..1 at the end of the data section are not covered by any tensor"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const bad_case& c = cases[i];
        INFO("case " << i << ": " << c.message);
        write_bytes(path, c.bytes);
        qamw::error e = open_error(path);
        CHECK(e.code() == c.code);
        CHECK_THAT(e.what(), Catch::StartsWith(path));
        CHECK_THAT(e.what(), Catch::Contains(c.message));
    }
    // The JSON parser's own messages carry the file too (and where in the header the problem is).
    write_bytes(path, st_bytes("{" + ok_entry + "," + ok_entry + "}", data8));
    REQUIRE_THROWS_WITH(safetensors_file::open(path),
                        path + " header: line 1, column 55: duplicate key 'w'");
}

TEST_CASE("safetensors: mapped_file and atomic_file", "[safetensors]") {
    temp_dir dir;
    SECTION("mapped_file") {
        write_bytes(dir / "empty", "");
        mapped_file e(dir / "empty");
        REQUIRE(e.size() == 0);
        REQUIRE(e.data() == nullptr);
        write_bytes(dir / "abc", "abc");
        mapped_file m(dir / "abc");
        REQUIRE(std::string(reinterpret_cast<const char*>(m.data()), m.size()) == "abc");
        const uint8_t* p = m.data();
        mapped_file moved(std::move(m));
        REQUIRE(moved.data() == p);
        REQUIRE(m.data() == nullptr);
        m = std::move(moved);
        REQUIRE(m.data() == p);
        REQUIRE(m.path() == dir / "abc");
        try {
            mapped_file missing(dir / "missing");
            FAIL("no throw");
        } catch (const qamw::error& err) {
            REQUIRE(err.code() == qamw::errc::io);
            REQUIRE_THAT(err.what(), Catch::Contains(dir / "missing") && Catch::Contains("No such file"));
        }
#ifndef _WIN32
        REQUIRE_THROWS_WITH(mapped_file(dir.path.string()), Catch::Contains("is not a regular file"));
#endif
        REQUIRE(open_error(dir / "missing").code() == qamw::errc::io);
    }
    SECTION("atomic_file commit, discard, move") {
        const std::string path = dir / "out.bin";
        {
            atomic_file f(path);
            REQUIRE(f.temp_path().rfind(path + ".tmp-", 0) == 0);
            REQUIRE(fs::exists(f.temp_path()));
            f.write("hello ", 6);
            std::string big = pattern(3 << 20, 1);  // larger than the buffer
            f.write(big);
            f.write(nullptr, 0);
            REQUIRE(f.bytes_written() == 6 + big.size());
            atomic_file g(std::move(f));
            REQUIRE_FALSE(fs::exists(path));
            g.commit();
            REQUIRE(g.committed());
            REQUIRE(read_bytes(path) == "hello " + big);
            REQUIRE_THROWS_AS(g.write("x", 1), qamw::error);
            REQUIRE_THROWS_AS(g.commit(), qamw::error);
        }
        REQUIRE(dir.entries() == std::vector<std::string>{"out.bin"});
        {
            atomic_file f(path);
            f.write("new", 3);
            f.discard();
            f.discard();
        }
        {
            atomic_file f(path);
            f.write("newer", 5);
            atomic_file other(dir / "other.bin");
            other = std::move(f);  // discards other's temporary file, takes over f's
            REQUIRE(dir.entries().size() == 2);
        }
        REQUIRE(dir.entries() == std::vector<std::string>{"out.bin"});
        REQUIRE(read_bytes(path).substr(0, 6) == "hello ");
        try {
            atomic_file f(dir / "missing/out.bin");
            FAIL("no throw");
        } catch (const qamw::error& e) {
            REQUIRE(e.code() == qamw::errc::io);
            REQUIRE_THAT(e.what(), Catch::Contains(dir / "missing/out.bin"));
        }
    }
    SECTION("atomic_file reports its temporary file to the hooks it was given, and only those") {
        static std::vector<std::string> created, finished;
        created.clear(), finished.clear();
        temp_file_hooks h;
        h.created = [](const std::string& t) { created.push_back(t); };
        h.finished = [](const std::string& t) noexcept { finished.push_back(t); };
        const std::string path = dir / "hooked.bin";
        std::string temp;
        {
            atomic_file f(path, h);
            temp = f.temp_path();
            REQUIRE(created == std::vector<std::string>{temp});
            REQUIRE(finished.empty());
            atomic_file plain(dir / "plain.bin");  // no hooks: nothing reported
            f.write("x", 1);
            f.commit();
            REQUIRE(finished == std::vector<std::string>{temp});
        }
        REQUIRE(created.size() == 1);
        REQUIRE(finished.size() == 1);
        {
            atomic_file f(path, h);  // destroyed uncommitted: finished once the temporary file is removed
            temp = f.temp_path();
        }
        REQUIRE(finished.back() == temp);
        REQUIRE_FALSE(fs::exists(temp));
        h.created = [](const std::string&) { throw qamw::error(qamw::errc::io, "registry full"); };
        REQUIRE_THROWS_WITH(atomic_file(path, h), Catch::Contains("registry full"));
        REQUIRE(dir.entries() == std::vector<std::string>{"hooked.bin"});
    }
    SECTION("atomic_file: write_at writes anywhere (a gap reads as zeros), write() still appends at the end") {
        const std::string path = dir / "at.bin";
        const std::string big = pattern(3 << 20, 2);  // larger than the buffer
        {
            atomic_file f(path);
            f.write("head", 4);
            f.write_at(10, "tail", 4);
            REQUIRE(f.bytes_written() == 14);
            f.write_at(2, "AD", 2);
            f.write("!", 1);
            f.write_at(100, big.data(), big.size());
            f.write_at(5, "x", 1);
            f.write("end", 3);
            REQUIRE(f.bytes_written() == 100 + big.size() + 3);
            f.commit();
        }
        std::string want = "heAD" + std::string(6, '\0') + "tail!";
        want[5] = 'x';
        want += std::string(100 - want.size(), '\0') + big + "end";
        REQUIRE(read_bytes(path) == want);
    }
#ifndef _WIN32
    SECTION("atomic_file: a write beyond the file size limit (as on a full disk) throws and leaves nothing") {
        const std::string path = dir / "big.bin";
        std::string msg;
        {
            qamw::test::fsize_limit limit(1 << 20);
            try {
                atomic_file f(path);
                std::string chunk(1 << 19, 'x');
                for (int i = 0; i < 8; ++i) f.write(chunk);
                f.commit();
            } catch (const qamw::error& e) {
                msg = e.what();
                CHECK(e.code() == qamw::errc::io);
            }
        }
        REQUIRE_THAT(msg, Catch::Contains(path) && Catch::Contains("File too large"));
        REQUIRE(dir.entries().empty());
    }
#endif
}

TEST_CASE("safetensors: to_f32 converts F32, F16 and BF16 exactly", "[safetensors]") {
    using qamw::detail::bf16_to_f32;
    using qamw::detail::f16_to_f32;
    SECTION("f16: all 65536 values against a reference decoder") {
        for (uint32_t h = 0; h < 65536; ++h) {
            int e = static_cast<int>((h >> 10) & 31), m = static_cast<int>(h & 1023);
            double mag = e == 0 ? std::ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp(1024 + m, e - 25);
            float want = static_cast<float>((h & 0x8000) ? -mag : mag);
            float got = f16_to_f32(static_cast<uint16_t>(h));
            INFO("h = " << h);
            if (std::isnan(want)) {
                REQUIRE(std::isnan(got));
                uint32_t bits;
                std::memcpy(&bits, &got, 4);
                REQUIRE(bits == (((h & 0x8000u) << 16) | 0x7F800000u | ((h & 0x3FFu) << 13)));  // payload kept
            } else {
                REQUIRE(got == want);
                REQUIRE(std::signbit(got) == std::signbit(want));
            }
        }
        REQUIRE(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
        REQUIRE(f16_to_f32(0x03FF) == std::ldexp(1023.0f, -24));
        REQUIRE(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
        REQUIRE(f16_to_f32(0x7BFF) == 65504.0f);
        REQUIRE(f16_to_f32(0x7C00) == std::numeric_limits<float>::infinity());
        REQUIRE(f16_to_f32(0xFC00) == -std::numeric_limits<float>::infinity());
        REQUIRE(std::signbit(f16_to_f32(0x8000)));
    }
    SECTION("bf16 edge values") {
        REQUIRE(bf16_to_f32(0x3F80) == 1.0f);
        REQUIRE(bf16_to_f32(0xC000) == -2.0f);
        REQUIRE(bf16_to_f32(0x7F80) == std::numeric_limits<float>::infinity());
        REQUIRE(bf16_to_f32(0xFF80) == -std::numeric_limits<float>::infinity());
        REQUIRE(std::isnan(bf16_to_f32(0x7FC1)));
        REQUIRE(bf16_to_f32(0x0001) == std::ldexp(1.0f, -133));  // subnormal
        REQUIRE(bf16_to_f32(0x0080) == std::numeric_limits<float>::min());
        REQUIRE(bf16_to_f32(0x7F7F) == 3.3895313892515355e38f);  // largest finite
        REQUIRE(std::signbit(bf16_to_f32(0x8000)));
    }
    SECTION("through a file, with unaligned data") {
        temp_dir dir;
        const std::string path = dir / "conv.safetensors";
        const uint16_t bf[] = {0x3F80, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x4049};
        const uint16_t hf[] = {0x3C00, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0001, 0x03FF, 0x7BFF};
        const uint32_t f32[] = {0x3F800000u, 0x7FC01234u, 0x00000001u, 0xFF800000u};
        const int32_t i32[] = {1, 2};
        {
            safetensors_writer w(path);
            w.add("u", dtype::u8, {1});  // makes every later tensor start at an odd address
            w.add("bf", dtype::bf16, {7});
            w.add("hf", dtype::f16, {8});
            w.add("f", dtype::f32, {2, 2});
            w.add("i", dtype::i32, {2});
            w.begin();
            w.write("u", "x", 1);
            w.write("bf", bf, sizeof bf);  // little-endian host assumed by this test's byte images
            w.write("hf", hf, sizeof hf);
            w.write("f", f32, sizeof f32);
            w.write("i", i32, sizeof i32);
            w.commit();
        }
        safetensors_file f = safetensors_file::open(path);
        REQUIRE(reinterpret_cast<uintptr_t>(f.view("f").data) % 2 == 1);
        std::vector<float> b = to_f32(f.view("bf"));
        REQUIRE(b.size() == 7);
        REQUIRE(b[0] == 1.0f);
        REQUIRE((b[1] == 0.0f && std::signbit(b[1])));
        REQUIRE(std::isinf(b[2]));
        REQUIRE((std::isinf(b[3]) && b[3] < 0));
        REQUIRE(std::isnan(b[4]));
        REQUIRE(b[5] == std::ldexp(1.0f, -133));
        REQUIRE(b[6] == 3.140625f);
        std::vector<float> h(8);
        to_f32(f.view("hf"), h.data());
        REQUIRE(h[0] == 1.0f);
        REQUIRE(std::signbit(h[1]));
        REQUIRE(h[2] == INFINITY);
        REQUIRE(h[3] == -INFINITY);
        REQUIRE(std::isnan(h[4]));
        REQUIRE(h[5] == std::ldexp(1.0f, -24));
        REQUIRE(h[6] == std::ldexp(1023.0f, -24));
        REQUIRE(h[7] == 65504.0f);
        std::vector<float> g = to_f32(f.view("f"));
        uint32_t bits[4];
        std::memcpy(bits, g.data(), 16);
        for (int i = 0; i < 4; ++i) REQUIRE(bits[i] == f32[i]);  // NaN payload and subnormal bit-exact
        try {
            to_f32(f.view("i"));
            FAIL("no throw");
        } catch (const qamw::error& e) {
            REQUIRE(e.code() == qamw::errc::unsupported);
            REQUIRE_THAT(e.what(), Catch::Contains("tensor 'i'") && Catch::Contains("I32"));
        }
        tensor_view bad = f.view("f");
        bad.nbytes -= 4;
        REQUIRE_THROWS_WITH(to_f32(bad), Catch::Contains("tensor 'f': view holds 12 bytes, shape needs 16"));
        REQUIRE_THROWS_AS(to_f32(tensor_view{nullptr, nullptr, 0}), qamw::error);
    }
}

namespace {

// Writes a shard holding `names` (each an F32 [2] tensor whose values encode its index).
void write_shard(const std::string& path, const std::vector<std::string>& names) {
    safetensors_writer w(path);
    for (const auto& n : names) w.add(n, dtype::f32, {2});
    w.begin();
    for (std::size_t i = 0; i < names.size(); ++i) {
        float v[2] = {static_cast<float>(i), static_cast<float>(names[i].size())};
        w.write(names[i], v, sizeof v);
    }
    w.commit();
}

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
    json wm = json::object();
    for (const auto& kv : map) wm.set(kv.first, kv.second);
    json j = json::object();
    j.set("metadata", json::object()).set("total_size", 48);
    j.set("weight_map", std::move(wm));
    return j.dump(2);
}

}  // namespace

TEST_CASE("safetensors: checkpoints, single-file and sharded", "[safetensors]") {
    temp_dir dir;
    SECTION("a directory with model.safetensors, or the file itself") {
        write_shard(dir / "model.safetensors", {"b", "a", "c"});
        for (const std::string& p : {dir.path.string(), dir / "model.safetensors"}) {
            checkpoint c = checkpoint::open(p);
            REQUIRE(c.names() == std::vector<std::string>{"b", "a", "c"});
            REQUIRE(c.shards().size() == 1);
            REQUIRE(fs::equivalent(c.directory(), dir.path));
            REQUIRE(to_f32(c.view("c")) == std::vector<float>{2, 1});
            REQUIRE(c.find("a")->name == "a");
            REQUIRE(c.find("zz") == nullptr);
            REQUIRE_THROWS_WITH(c.view("zz"), Catch::Contains("model.safetensors: no tensor 'zz'"));
        }
    }
    SECTION("a sharded checkpoint") {
        write_shard(dir / "model-00002-of-00002.safetensors", {"lm_head", "norm"});
        write_shard(dir / "model-00001-of-00002.safetensors", {"embed", "layer.0"});
        write_bytes(dir / "model.safetensors.index.json",
                    index_json({{"norm", "model-00002-of-00002.safetensors"},
                                {"embed", "model-00001-of-00002.safetensors"},
                                {"lm_head", "model-00002-of-00002.safetensors"},
                                {"layer.0", "model-00001-of-00002.safetensors"}}));
        for (const std::string& p : {dir.path.string(), dir / "model.safetensors.index.json"}) {
            checkpoint c = checkpoint::open(p);
            REQUIRE(c.shards().size() == 2);
            REQUIRE(c.names() == std::vector<std::string>{"embed", "layer.0", "lm_head", "norm"});
            REQUIRE(to_f32(c.view("norm")) == std::vector<float>{1, 4});
            REQUIRE(to_f32(c.view("layer.0")) == std::vector<float>{1, 7});
            REQUIRE(c.shard_of("norm") == &c.shards()[1]);
            checkpoint moved = std::move(c);
            REQUIRE(to_f32(moved.view("embed")) == std::vector<float>{0, 5});
            REQUIRE_THROWS_WITH(moved.view("zz"), Catch::Contains("model.safetensors.index.json: no tensor 'zz'"));
        }
    }
    SECTION("inconsistent or hostile indexes") {
        write_shard(dir / "s1.safetensors", {"a", "b"});
        write_shard(dir / "s2.safetensors", {"c", "b"});
        const std::string index = dir / "model.safetensors.index.json";
        struct bad_case {
            std::string text, message;
        };
        const std::vector<bad_case> cases = {
            {"[]", "not a JSON object"},
            {"{}", "missing 'weight_map'"},
            {"{\"weight_map\":[]}", "'weight_map' is not an object"},
            {"{\"weight_map\":{}}", "'weight_map' is empty"},
            {"{\"weight_map\":{\"a\":1}}", "'weight_map' value for 'a' is not a string"},
            {"{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s1.safetensors\"}}", "duplicate key 'a'"},
            {index_json({{"a", "../s1.safetensors"}}), "shard name '../s1.safetensors' is not a plain file name"},
            {index_json({{"a", "/etc/passwd"}}), "is not a plain file name"},
            {index_json({{"a", "sub/s1.safetensors"}}), "is not a plain file name"},
            {index_json({{"a", "sub\\s1.safetensors"}}), "is not a plain file name"},
            {index_json({{"a", ".."}}), "is not a plain file name"},
            {index_json({{"a", ""}}), "is not a plain file name"},
            {index_json({{"a", "s3.safetensors"}}), "shard 's3.safetensors' does not exist"},
            {index_json({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s2.safetensors"}}),
             "tensor 'b' is present in shards 's2.safetensors' and 's1.safetensors'"},
            {index_json({{"a", "s1.safetensors"}}), "tensor 'b' of shard 's1.safetensors' is not listed"},
        };
        for (const auto& c : cases) {
            INFO(c.text);
            write_bytes(index, c.text);
            qamw::error e = checkpoint_error(dir.path.string());
            CHECK_THAT(e.what(), Catch::StartsWith(index));
            CHECK_THAT(e.what(), Catch::Contains(c.message));
        }
        // Listed for a shard that does not hold it.
        write_shard(dir / "s1.safetensors", {"a"});
        write_shard(dir / "s2.safetensors", {"c"});
        write_bytes(index, index_json({{"a", "s1.safetensors"}, {"c", "s2.safetensors"}, {"x", "s2.safetensors"}}));
        REQUIRE_THROWS_WITH(checkpoint::open(dir.path.string()),
                            Catch::Contains("tensor 'x' is listed for shard 's2.safetensors' but absent from it"));
        // A bad shard reports the shard's path.
        write_bytes(dir / "s2.safetensors", "short");
        REQUIRE_THROWS_WITH(checkpoint::open(index), Catch::StartsWith(dir / "s2.safetensors") &&
                                                         Catch::Contains("shorter than 8 bytes"));
    }
    SECTION("nothing to open") {
        qamw::error e = checkpoint_error(dir.path.string());
        REQUIRE(e.code() == qamw::errc::io);
        REQUIRE_THAT(e.what(), Catch::Contains("holds neither model.safetensors nor model.safetensors.index.json"));
        REQUIRE_THROWS_WITH(checkpoint::open(dir / "nope"), Catch::Contains("no such file or directory"));
    }
}

TEST_CASE("safetensors: the shared real checkpoints", "[safetensors][shared]") {
    qamw::test::require_shared({"models/stories260K/model.safetensors", "models/house-a/model.safetensors"});
    const std::string small = qamw::test::shared_dir + "/models/stories260K/model.safetensors";
    const std::string house = qamw::test::shared_dir + "/models/house-a/model.safetensors";
    {
        safetensors_file f = safetensors_file::open(small);
        REQUIRE(f.tensors().size() == 47);
        REQUIRE(*f.find_metadata("format") == "pt");
        const tensor_info* e = f.find("model.embed_tokens.weight");
        REQUIRE(e != nullptr);
        REQUIRE(e->type == dtype::f32);
        REQUIRE(e->shape == std::vector<int64_t>{512, 64});
        std::vector<float> w = to_f32(f.view(*e));
        REQUIRE(w.size() == 512 * 64);
        for (float x : w) REQUIRE(std::isfinite(x));
        checkpoint c = checkpoint::open(fs::path(small).parent_path().string());
        REQUIRE(c.names().size() == 47);
    }
    {
        checkpoint c = checkpoint::open(fs::path(house).parent_path().string());
        REQUIRE(c.names().size() == 74);
        REQUIRE(c.find("model.embed_tokens.weight")->shape == std::vector<int64_t>{32000, 512});
        for (const std::string& n : c.names()) REQUIRE(c.find(n)->type == dtype::bf16);
        std::vector<float> norm = to_f32(c.view("model.norm.weight"));
        REQUIRE(norm.size() == 512);
        for (float x : norm) REQUIRE(std::isfinite(x));
    }
}
