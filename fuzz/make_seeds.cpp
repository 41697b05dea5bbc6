// fuzz/make_seeds.cpp — writes the seed corpora of the fuzz harnesses (fuzz/corpus/<harness>/) from real data: slices
// of the vendored stories260K checkpoint, quantized with the library at several k, with and without column scales.
// Every seed is a file the library itself accepts; libFuzzer mutates from there. Deterministic: rerunning gives the
// same bytes. The activation statistics seed is written by the CLI first (see fuzz/README.md); the imatrix seeds are
// made from it. Usage: qamw_fuzz_seeds <qamw source root> <corpus dir>
#include <common/imatrix.hpp>
#include <eval/act_stats_file.hpp>
#include <qamw/container.hpp>
#include <qamw/io/safetensors.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace qamw;

namespace {

std::vector<std::uint8_t> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const void* data, std::size_t n) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!out) throw std::runtime_error("cannot write " + p.string());
    std::printf("%6zu  %s\n", n, p.string().c_str());
}
void write_text(const fs::path& p, const std::string& s) { write_file(p, s.data(), s.size()); }

/// The JSON header of a safetensors file (for the json corpus).
std::string header_of(const fs::path& p) {
    auto b = read_file(p);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | b[static_cast<std::size_t>(i)];
    return std::string(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
}

/// Rows [r0, r0 + rows) of a 2D F32 tensor of the checkpoint, cut to its first `cols` columns.
std::vector<float> slice(const io::safetensors_file& f, const std::string& name, std::int64_t r0, std::int64_t rows,
                         std::int64_t cols) {
    auto v = f.view(name);
    std::vector<float> all = io::to_f32(v);
    const std::int64_t n = v.info->shape.size() == 2 ? v.info->shape[1] : static_cast<std::int64_t>(all.size());
    std::vector<float> out;
    for (std::int64_t i = r0; i < r0 + rows; ++i)
        out.insert(out.end(), all.begin() + i * n, all.begin() + i * n + cols);
    return out;
}

std::vector<std::uint8_t> as_bytes(const std::vector<float>& v) {
    std::vector<std::uint8_t> b(4 * v.size());
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}
std::vector<std::uint8_t> as_16(const std::vector<float>& v, bool bf16) {
    std::vector<std::uint8_t> b;
    for (float x : v) {
        std::uint16_t h = bf16 ? detail::f32_to_bf16(x) : detail::f32_to_f16(x);
        b.push_back(static_cast<std::uint8_t>(h)), b.push_back(static_cast<std::uint8_t>(h >> 8));
    }
    return b;
}

struct plain {
    std::string name;
    io::dtype type;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
};

void write_safetensors(const fs::path& p, const std::vector<plain>& ts,
                       const std::vector<std::pair<std::string, std::string>>& meta) {
    io::safetensors_writer w(p.string());
    for (const auto& m : meta) w.set_metadata(m.first, m.second);
    for (const auto& t : ts) w.add(t.name, t.type, t.shape);
    w.begin();
    for (const auto& t : ts) w.write(t.name, t.bytes.data(), t.bytes.size());
    w.commit();
    std::printf("%6ju  %s\n", static_cast<std::uintmax_t>(fs::file_size(p)), p.string().c_str());
}

struct quantized {
    std::string name;
    std::vector<float> w;
    std::int64_t rows, cols;
    int bits, block;
    bool scaled;
};

/// Column scales in [0.5, 2) that depend on the column only (deterministic, exactly representable in f16).
std::vector<float> scales_for(std::int64_t cols) {
    std::vector<float> s(static_cast<std::size_t>(cols));
    for (std::int64_t j = 0; j < cols; ++j) s[static_cast<std::size_t>(j)] = 0.5f + float((j * 37) % 48) / 32.0f;
    return s;
}

quantized_tensor encode_one(const quantized& t) {
    params p;
    p.bits = t.bits;
    p.block = t.block;
    std::vector<float> s = scales_for(t.cols);
    return encode(t.w.data(), t.rows, t.cols, p, t.scaled ? s.data() : nullptr);
}

void write_container(const fs::path& p, const std::vector<quantized>& qs, const std::vector<plain>& ps,
                     const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& files) {
    container_writer w(p.string());
    for (const auto& t : qs) {
        params pr;
        pr.bits = t.bits;
        pr.block = t.block;
        w.declare_quantized(t.name, t.rows, t.cols, pr, t.scaled, io::dtype::f32);
    }
    for (const auto& t : ps) w.declare_plain(t.name, t.type, t.shape);
    for (const auto& f : files) w.embed_file(f.first, f.second);
    w.begin();
    for (const auto& t : qs) w.write_quantized(t.name, encode_one(t));
    for (const auto& t : ps) w.write_plain(t.name, t.bytes.data(), t.bytes.size());
    w.commit();
    std::printf("%6ju  %s\n", static_cast<std::uintmax_t>(fs::file_size(p)), p.string().c_str());
}

/// A quantized tensor in fuzz_decode's input layout (see fuzz_decode.cpp).
std::vector<std::uint8_t> decode_input(const quantized_tensor& q, bool with_seed) {
    std::vector<std::uint8_t> b;
    auto put = [&](std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    int log2b = 0;
    while ((1 << log2b) < q.layout.block) ++log2b;
    put(static_cast<std::uint64_t>(q.bits), 1);
    put(static_cast<std::uint64_t>(q.rows), 2);
    put(static_cast<std::uint64_t>(q.cols()), 2);
    put(static_cast<std::uint64_t>(log2b) | (q.col_scales.empty() ? 0u : 0x80u), 1);
    put(static_cast<std::uint64_t>(static_cast<std::uint16_t>(q.norms.exp2)), 2);
    b.insert(b.end(), q.codes.begin(), q.codes.end());
    for (auto h : q.norms.f16) put(h, 2);
    for (auto h : q.col_scales) put(h, 2);
    if (with_seed) put(q.seed, 8);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <qamw source root> <corpus dir>\n", argv[0]);
        return 2;
    }
    const fs::path root = argv[1], out = argv[2];
    const fs::path model_dir = root / "examples/data/stories260K";
    const auto model = io::safetensors_file::open((model_dir / "model.safetensors").string());
    const auto config = read_file(model_dir / "config.json");
    for (const char* h : {"fuzz_json", "fuzz_safetensors", "fuzz_container", "fuzz_decode", "fuzz_imatrix"})
        fs::create_directories(out / h);
    const fs::path js = out / "fuzz_json", st = out / "fuzz_safetensors", ct = out / "fuzz_container",
                   dc = out / "fuzz_decode";

    // ---- fuzz_safetensors: slices of the real checkpoint in every float dtype, every dtype, edge shapes ----------
    const auto embed = slice(model, "model.embed_tokens.weight", 0, 4, 64);
    const auto norm = slice(model, "model.norm.weight", 0, 1, 64);
    const auto down = slice(model, "model.layers.0.mlp.down_proj.weight", 0, 3, 172);
    const auto q_proj = slice(model, "model.layers.1.self_attn.q_proj.weight", 0, 2, 64);
    write_safetensors(st / "real_f32.safetensors",
                      {{"model.embed_tokens.weight", io::dtype::f32, {4, 64}, as_bytes(embed)},
                       {"model.norm.weight", io::dtype::f32, {64}, as_bytes(norm)}},
                      {{"format", "pt"}});
    write_safetensors(st / "real_bf16_f16.safetensors",
                      {{"model.layers.0.mlp.down_proj.weight", io::dtype::bf16, {3, 172}, as_16(down, true)},
                       {"model.layers.1.self_attn.q_proj.weight", io::dtype::f16, {2, 64}, as_16(q_proj, false)}},
                      {});
    {
        std::vector<plain> all;
        const io::dtype types[] = {io::dtype::f64, io::dtype::i64, io::dtype::i32, io::dtype::i16, io::dtype::i8,
                                   io::dtype::u64, io::dtype::u32, io::dtype::u16, io::dtype::u8, io::dtype::boolean};
        int i = 0;
        for (io::dtype t : types) {
            std::vector<std::uint8_t> bytes(2 * io::dtype_size(t));
            for (std::size_t j = 0; j < bytes.size(); ++j) bytes[j] = static_cast<std::uint8_t>(j == 0);
            all.push_back({std::string("t") + std::to_string(i++) + "_" + io::dtype_name(t), t, {2}, bytes});
        }
        all.push_back({"scalar", io::dtype::f32, {}, as_bytes({1.5f})});
        all.push_back({"empty", io::dtype::f16, {0, 3}, {}});
        all.push_back({"cube", io::dtype::bf16, {1, 1, 1}, as_16({-2.0f}, true)});
        write_safetensors(st / "all_dtypes.safetensors", all, {{"note", "every dtype, a scalar, an empty tensor"}});
    }
    write_safetensors(st / "no_tensors.safetensors", {}, {});
    write_text(st / "index.json",
               "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"a\":\"shard-a.safetensors\","
               "\"b\":\"shard-b.safetensors\",\"c\":\"shard-b.safetensors\"}}");

    // ---- fuzz_container: real slices quantized at every k, with and without scales, plain tensors, embedded files --
    const auto gate = slice(model, "model.layers.2.mlp.gate_proj.weight", 0, 8, 64);
    write_container(ct / "k4_plain_config.qamw.safetensors",
                    {{"model.layers.2.mlp.gate_proj.weight", gate, 8, 64, 4, 256, false}},
                    {{"model.norm.weight", io::dtype::f32, {64}, as_bytes(norm)}}, {{"config.json", config}});
    write_container(ct / "k12_scaled.qamw.safetensors",
                    {{"model.layers.0.mlp.down_proj.weight", down, 3, 172, 12, 256, true}}, {}, {});
    {
        std::vector<quantized> qs;
        for (int k = 5; k <= 11; ++k)
            qs.push_back({"model.layers." + std::to_string(k - 5) + ".self_attn.k_proj.weight",
                          slice(model, "model.layers." + std::to_string((k - 5) % 5) + ".self_attn.k_proj.weight",
                                k, 2, 40),
                          2, 40, k, k % 2 ? 32 : 4096, k % 3 == 0});
        write_container(ct / "k5_to_k11.qamw.safetensors", qs, {}, {{"generation_config.json", {'{', '}'}}});
    }
    write_container(ct / "one_weight.qamw.safetensors", {{"w", {0.25f}, 1, 1, 8, 32, true}}, {}, {});
    write_container(ct / "zero_rows.qamw.safetensors", {{"z", {0.0f, 0.0f, 0.0f, 0.0f}, 2, 2, 6, 64, false}}, {}, {});

    // ---- fuzz_json: real headers and configs, plus hand-written edge cases -------------------------------------------
    write_file(js / "config.json", config.data(), config.size());
    write_text(js / "header_real_f32.json", header_of(st / "real_f32.safetensors"));
    write_text(js / "header_all_dtypes.json", header_of(st / "all_dtypes.safetensors"));
    write_text(js / "header_container.json", header_of(ct / "k5_to_k11.qamw.safetensors"));
    {
        auto c = container::open((ct / "k12_scaled.qamw.safetensors").string());
        write_text(js / "qamw_meta.json", c.meta("model.layers.0.mlp.down_proj.weight").dump(2));
    }
    write_text(js / "numbers.json",
               "[0,-0,-0.0,1,-1,9223372036854775807,-9223372036854775808,9223372036854775808,1e308,-1e-307,"
               "4.9406564584124654e-324,0.1,1E+2,2.5e-3,123456789012345678901234567890,17.0]");
    write_text(js / "strings.json",
               "{\"a\":\"\\u0041\\n\\t\\\"\\\\\\/\\b\\f\\r\",\"\\ud83d\\ude00\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
               "\"empty\":\"\",\"ctl\":\"\\u0000\\u001f\"}");
    write_text(js / "nested.json", "{\"a\":[[[],{}],{\"b\":{\"c\":[null,true,false]}}],\"d\":{}}  \n");

    // ---- fuzz_decode: real slices encoded, in the harness's byte layout -----------------------------------------------
    {
        struct dcase {
            const char* file;
            std::vector<float> w;
            std::int64_t rows, cols;
            int bits, block;
            bool scaled, seed;
        };
        const dcase cases[] = {
            {"k4_8x64.bin", gate, 8, 64, 4, 256, false, false},
            {"k12_3x172_scaled.bin", down, 3, 172, 12, 64, true, true},
            {"k8_2x64_seed.bin", q_proj, 2, 64, 8, 32, false, true},
            {"k7_1x1_scaled.bin", {-3.0f}, 1, 1, 7, 32, true, false},
            {"k10_4x40.bin", slice(model, "model.embed_tokens.weight", 7, 4, 40), 4, 40, 10, 4096, false, false},
        };
        for (const auto& c : cases) {
            auto q = encode_one({"", c.w, c.rows, c.cols, c.bits, c.block, c.scaled});
            if (c.seed) q.seed = 0x0123456789abcdefull;
            auto b = decode_input(q, c.seed);
            write_file(dc / c.file, b.data(), b.size());
        }
    }

    // ---- fuzz_imatrix: the real activation statistics of fuzz_act_stats in llama.cpp's legacy layout ------------------
    {
        const auto stats = eval::read_act_stats((out / "fuzz_act_stats/stories260K.safetensors").string());
        const std::int32_t ncall = 2;  // the seed's statistics come from 2 windows
        std::vector<std::uint8_t> all, one;
        auto put = [](std::vector<std::uint8_t>& b, std::int32_t v) {
            for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(std::uint32_t(v) >> (8 * i)));
        };
        auto entry = [&](std::vector<std::uint8_t>& b, const std::string& name, const eval::channel_stats& c) {
            put(b, std::int32_t(name.size()));
            b.insert(b.end(), name.begin(), name.end());
            put(b, ncall);
            put(b, std::int32_t(c.mean_sq.size()));
            for (float v : c.mean_sq) {
                float stored = v * float(ncall);
                std::int32_t bits;
                std::memcpy(&bits, &stored, 4);
                put(b, bits);
            }
        };
        std::int32_t n = 0;
        std::vector<std::uint8_t> entries;
        for (int layer = 0; layer < 5; ++layer)
            for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
                const std::string name = "blk." + std::to_string(layer) + "." + t + ".weight";
                const eval::channel_stats* c = stats.find(tools::llama_to_hf_name(name));
                if (!c) continue;
                entry(entries, name, *c);
                ++n;
                if (one.empty()) {
                    put(one, 1);
                    entry(one, name, *c);
                }
            }
        put(all, n);
        all.insert(all.end(), entries.begin(), entries.end());
        put(all, ncall);  // trailer: chunks processed, then the calibration file name
        const std::string dataset = "tinystories-valid.tok512.i32";
        put(all, std::int32_t(dataset.size()));
        all.insert(all.end(), dataset.begin(), dataset.end());
        write_file(out / "fuzz_imatrix/stories260K.imatrix.dat", all.data(), all.size());
        write_file(out / "fuzz_imatrix/one_entry.imatrix.dat", one.data(), one.size());
    }
    return 0;
}
