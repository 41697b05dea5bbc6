// fuzz/fuzz_safetensors.cpp — qamw::io::safetensors_file::open and io::checkpoint::open on arbitrary bytes.
//
// Two modes, chosen by the first byte:
//   '{'   the input is a model.safetensors.index.json, placed in a scratch directory beside two fixed valid shards
//         (shard-a.safetensors holds tensor "a", shard-b.safetensors holds "b", "c"), opened with checkpoint::open(dir);
//   else  the input is a .safetensors file, opened with safetensors_file::open and checkpoint::open(file).
// (A safetensors file whose header length is ≡ 123 mod 256 starts with '{' too; it is then fuzzed as an index, which
// costs nothing.) After a successful open every tensor is viewed, its bytes are touched, and F32/F16/BF16 tensors are
// converted with to_f32. Invariants checked on accepted files: every view lies inside the data section, views tile it
// in order, find() finds every tensor, and to_f32 is bit-exact against an independent widening.
#include "fuzz_common.hpp"

#include <qamw/detail/half.hpp>
#include <qamw/io/safetensors.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace qamw::io;

/// A minimal safetensors file: one F32 tensor per name, shape [n], values 0, 1, 2, ...
std::vector<std::uint8_t> tiny_file(const std::vector<std::pair<std::string, int>>& tensors) {
    std::string header = "{";
    std::size_t off = 0;
    for (const auto& t : tensors) {
        if (header.size() > 1) header += ",";
        header += "\"" + t.first + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(t.second) +
                  "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + 4 * t.second) + "]}";
        off += 4 * static_cast<std::size_t>(t.second);
    }
    header += "}";
    std::vector<std::uint8_t> out(8);
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    for (const auto& t : tensors)
        for (int i = 0; i < t.second; ++i) {
            float v = float(i);
            std::uint8_t b[4];
            std::memcpy(b, &v, 4);
            out.insert(out.end(), b, b + 4);
        }
    return out;
}

void check_tensors(const safetensors_file& f) {
    const std::uint64_t data_size = f.file_size() - f.data_offset();
    QAMW_FUZZ_CHECK(f.data_offset() >= 8 && f.data_offset() <= f.file_size());
    std::uint64_t cursor = 0;
    const std::uint8_t* base = nullptr;
    for (const tensor_info& t : f.tensors()) {
        QAMW_FUZZ_CHECK(t.begin == cursor && t.end >= t.begin && t.end <= data_size);
        cursor = t.end;
        QAMW_FUZZ_CHECK(f.find(t.name) != nullptr && f.find(t.name)->name == t.name);
        tensor_view v = f.view(t);
        QAMW_FUZZ_CHECK(v.info == &t && v.nbytes == t.end - t.begin);
        QAMW_FUZZ_CHECK(static_cast<std::uint64_t>(t.numel()) * dtype_size(t.type) == v.nbytes);
        if (v.nbytes) {
            if (!base) base = v.data - t.begin;
            QAMW_FUZZ_CHECK(v.data == base + t.begin);  // all views index one data section
        }
        qamw_fuzz::keep(qamw_fuzz::touch(v.data, v.nbytes));
        if (t.type == dtype::f32 || t.type == dtype::f16 || t.type == dtype::bf16) {
            std::vector<float> out = to_f32(v);
            QAMW_FUZZ_CHECK(out.size() == static_cast<std::size_t>(t.numel()));
            for (std::size_t i = 0; i < out.size(); ++i) {
                std::uint32_t got, want;
                std::memcpy(&got, &out[i], 4);
                if (t.type == dtype::f32) {
                    std::memcpy(&want, v.data + 4 * i, 4);  // little-endian host
                } else {
                    std::uint16_t h = static_cast<std::uint16_t>(v.data[2 * i] | v.data[2 * i + 1] << 8);
                    float w = t.type == dtype::bf16 ? qamw::detail::bf16_to_f32(h) : qamw::detail::f16_to_f32(h);
                    std::memcpy(&want, &w, 4);
                }
                QAMW_FUZZ_CHECK(got == want);
            }
        }
    }
    QAMW_FUZZ_CHECK(cursor == data_size);
    for (const auto& m : f.metadata()) QAMW_FUZZ_CHECK(f.find_metadata(m.first) != nullptr);
}

void check_checkpoint(const checkpoint& c) {
    for (const std::string& n : c.names()) {
        const tensor_info* t = c.find(n);
        QAMW_FUZZ_CHECK(t && t->name == n && c.shard_of(n));
        tensor_view v = c.view(n);
        QAMW_FUZZ_CHECK(v.nbytes == t->end - t->begin);
        qamw_fuzz::keep(qamw_fuzz::touch(v.data, v.nbytes));
    }
}

void fuzz_index(const std::uint8_t* data, std::size_t size) {
    namespace fs = std::filesystem;
    static const fs::path dir = [] {
        fs::path d = qamw_fuzz::scratch_dir() / "checkpoint";
        fs::create_directories(d);
        auto a = tiny_file({{"a", 3}});
        auto b = tiny_file({{"b", 2}, {"c", 1}});
        qamw_fuzz::write_scratch("checkpoint/shard-a.safetensors", a.data(), a.size());
        qamw_fuzz::write_scratch("checkpoint/shard-b.safetensors", b.data(), b.size());
        return d;
    }();
    qamw_fuzz::write_scratch("checkpoint/model.safetensors.index.json", data, size);
    try {
        check_checkpoint(checkpoint::open(dir.string()));
    } catch (const qamw::error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 0 && data[0] == '{') {
        fuzz_index(data, size);
        return 0;
    }
    const std::string path = qamw_fuzz::write_scratch("fuzz.safetensors", data, size);
    try {
        safetensors_file f = safetensors_file::open(path);
        check_tensors(f);
    } catch (const qamw::error&) {
        return 0;
    }
    // An accepted file is also a one-file checkpoint.
    try {
        check_checkpoint(checkpoint::open(path));
    } catch (const qamw::error& e) {
        std::fprintf(stderr, "checkpoint::open rejected a file safetensors_file::open accepted: %s\n", e.what());
        std::abort();
    }
    return 0;
}
