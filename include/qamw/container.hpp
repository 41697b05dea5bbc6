// qamw/container.hpp — the `.qamw.safetensors` container: a standard safetensors file holding quantized tensors
// beside unchanged ones, so existing tools can list it. docs/FORMAT.md specifies every byte.
//
// For each quantized weight NAME (rows × cols):
//   NAME.qamw.codes      U8  [rows, row_bytes]  packed k-bit codes, row after row (stages/packer.hpp)
//   NAME.qamw.norms      F16 [rows]             r̂_i · 2^−e (stages/normalizer.hpp)
//   NAME.qamw.norm_exp2  I32 [1]                e
//   NAME.qamw.scales     F16 [cols]             activation-aware column scales s_j (only when applied)
//   NAME.qamw.checksum   U8  [8]                FNV-1a 64 of the tensor's record (format 2; see payload_checksum)
// and a metadata entry "qamw:NAME" whose value is a JSON object:
//   {"rows", "cols", "bits", "block" (effective), "padded", "seed" (16 hex digits), "codebook" ("lm2d-k<K>" or, from
//    format 3, "d8-k<K>"),
//    "codebook_checksum" (16 hex digits), "source_dtype" ("F32"|"F16"|"BF16"), "scaled" (bool)}
// plus optional informational keys (e.g. "awq_alpha"). File-wide metadata: "format" = "qamw", "format_version" = "3"
// (version 1, without checksums, and version 2, without d8 codebooks, are still read),
// and "qamw.file.<file name>" = base64 of a file of the source checkpoint (config.json, tokenizer files), so that one
// container is enough to evaluate or dequantize. Every other tensor is copied byte for byte under its own name.
#pragma once

#include <qamw/codebooks/codebook.hpp>
#include <qamw/codec.hpp>
#include <qamw/detail/base64.hpp>
#include <qamw/detail/json.hpp>
#include <qamw/io/safetensors.hpp>
#include <qamw/version.hpp>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qamw {

namespace container_names {
inline std::string codes(const std::string& n) { return n + ".qamw.codes"; }
inline std::string norms(const std::string& n) { return n + ".qamw.norms"; }
inline std::string norm_exp2(const std::string& n) { return n + ".qamw.norm_exp2"; }
inline std::string scales(const std::string& n) { return n + ".qamw.scales"; }
inline std::string checksum(const std::string& n) { return n + ".qamw.checksum"; }
inline std::string meta(const std::string& n) { return "qamw:" + n; }
constexpr const char* file_prefix = "qamw.file.";
}  // namespace container_names

namespace detail {
inline std::string hex64(std::uint64_t v) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
}
}  // namespace detail

/// The payload checksum of format 2: FNV-1a 64 over the tensor's record — rows, cols, k, B, n_pad, seed and
/// scaled (0 or 1) as seven little-endian u64, then the codes, the norms (2·rows bytes), the exponent (little-endian
/// i32) and, when scaled, the scales (2·cols bytes). It covers every byte and parameter the decoder reads.
inline std::uint64_t payload_checksum(const quantized_view& v) {
    const std::uint64_t fields[7] = {static_cast<std::uint64_t>(v.rows),         static_cast<std::uint64_t>(v.cols()),
                                     static_cast<std::uint64_t>(v.bits),         static_cast<std::uint64_t>(v.layout.block),
                                     static_cast<std::uint64_t>(v.layout.padded), v.seed,
                                     v.scales ? 1u : 0u};
    std::uint8_t head[56];
    for (int f = 0; f < 7; ++f)
        for (int b = 0; b < 8; ++b) head[8 * f + b] = static_cast<std::uint8_t>(fields[f] >> (8 * b));
    std::uint64_t h = detail::fnv1a64(head, sizeof head);
    h = detail::fnv1a64(v.codes, v.code_bytes(), h);
    h = detail::fnv1a64(v.norms, 2 * static_cast<std::size_t>(v.rows), h);
    const std::uint8_t e[4] = {static_cast<std::uint8_t>(v.norm_exp2), static_cast<std::uint8_t>(v.norm_exp2 >> 8),
                               static_cast<std::uint8_t>(v.norm_exp2 >> 16), static_cast<std::uint8_t>(v.norm_exp2 >> 24)};
    h = detail::fnv1a64(e, 4, h);
    if (v.scales) h = detail::fnv1a64(v.scales, 2 * static_cast<std::size_t>(v.cols()), h);
    return h;
}

/// Writes a container: declare every tensor (and metadata) first, then begin(), then write each tensor in
/// declaration order, then commit(). Nothing appears at the path before commit() (io::atomic_file).
class container_writer {
public:
    /// hooks: observers of the temporary file (io/atomic_file.hpp).
    explicit container_writer(std::string path, io::temp_file_hooks hooks = {}) : w_(std::move(path), hooks) {
        w_.set_metadata("format", "qamw");
        w_.set_metadata("format_version", std::to_string(format_version));
    }

    /// Declares a quantized tensor; its payload sizes follow from the shape and the codec parameters.
    void declare_quantized(const std::string& name, std::int64_t rows, std::int64_t cols, const params& p, bool scaled,
                           io::dtype source, const io::json& extra = io::json::object()) {
        block_layout l = make_block_layout(cols, p.block);
        std::int64_t rb = static_cast<std::int64_t>(packed_bytes(static_cast<std::size_t>(l.padded / 2), p.bits));
        w_.add(container_names::codes(name), io::dtype::u8, {rows, rb});
        w_.add(container_names::norms(name), io::dtype::f16, {rows});
        w_.add(container_names::norm_exp2(name), io::dtype::i32, {1});
        if (scaled) w_.add(container_names::scales(name), io::dtype::f16, {cols});
        w_.add(container_names::checksum(name), io::dtype::u8, {8});
        io::json m = io::json::object();
        m.set("rows", rows);
        m.set("cols", cols);
        m.set("bits", p.bits);
        m.set("block", l.block);
        m.set("padded", l.padded);
        m.set("seed", detail::hex64(p.seed));
        m.set("codebook", codebook_id(p.family, p.bits));
        m.set("codebook_checksum", detail::hex64(codebook_checksum(p.family, p.bits)));
        m.set("source_dtype", io::dtype_name(source));
        m.set("scaled", scaled);
        for (const auto& kv : extra.members()) m.set(kv.first, kv.second);
        w_.set_metadata(container_names::meta(name), m.dump());
    }

    /// Declares a tensor copied unchanged.
    void declare_plain(const std::string& name, io::dtype t, std::vector<std::int64_t> shape) {
        w_.add(name, t, std::move(shape));
    }

    /// Embeds a file of the source checkpoint (config.json, tokenizer.model, ...).
    void embed_file(const std::string& file_name, const std::vector<std::uint8_t>& bytes) {
        w_.set_metadata(container_names::file_prefix + file_name, detail::base64_encode(bytes.data(), bytes.size()));
    }

    void begin() { w_.begin(); }

    /// Writes the payload of a declared quantized tensor (it must match its declaration).
    void write_quantized(const std::string& name, const quantized_tensor& q) {
        validate(q);
        w_.write(container_names::codes(name), q.codes.data(), q.codes.size());
        w_.write(container_names::norms(name), q.norms.f16.data(), 2 * q.norms.f16.size());
        std::int32_t e = q.norms.exp2;
        w_.write(container_names::norm_exp2(name), &e, 4);
        if (!q.col_scales.empty()) w_.write(container_names::scales(name), q.col_scales.data(), 2 * q.col_scales.size());
        const std::uint64_t h = payload_checksum(q.view());
        std::uint8_t b[8];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(h >> (8 * i));
        w_.write(container_names::checksum(name), b, 8);
    }

    void write_plain(const std::string& name, const void* data, std::size_t nbytes) { w_.write(name, data, nbytes); }

    void commit() { w_.commit(); }

private:
    io::safetensors_writer w_;
};

/// A container opened for reading: validated on open (format, version, every quantized tensor's metadata, payload
/// shapes and dtypes, codebook checksum). Errors name the file and the tensor. Payload checksums (format 2) are
/// checked by verify(), or for every tensor on open with verify_payloads (which reads every byte: opt-in).
class container {
public:
    static container open(const std::string& path, bool verify_payloads = false) {
        container c;
        c.file_ = io::safetensors_file::open(path);
        c.parse();
        if (verify_payloads)
            for (const auto& name : c.quantized_names()) c.verify(name);
        return c;
    }

    /// The file's format version (1, 2 or 3).
    int version() const { return version_; }

    /// Checks tensor `name` against its payload checksum: true when it matches, false when the file has none
    /// (format 1); throws errc::format naming file and tensor when it does not match.
    bool verify(const std::string& name) const {
        const quantized_view v = view(name);
        if (version_ < 2) return false;
        const std::uint8_t* b = file_.view(container_names::checksum(name)).data;
        std::uint64_t stored = 0;
        for (int i = 0; i < 8; ++i) stored |= static_cast<std::uint64_t>(b[i]) << (8 * i);
        const std::uint64_t h = payload_checksum(v);
        if (h != stored)
            fail(name, "payload checksum " + detail::hex64(h) + " does not match the stored " + detail::hex64(stored) +
                           " (codes, norms, scales or parameters changed since it was written)");
        return true;
    }

    const io::safetensors_file& file() const { return file_; }
    const std::string& path() const { return file_.path(); }

    /// Names of the quantized tensors, in file order.
    const std::vector<std::string>& quantized_names() const { return quantized_; }
    bool is_quantized(const std::string& name) const { return meta_.count(name) != 0; }
    /// The metadata object of a quantized tensor.
    const io::json& meta(const std::string& name) const { return meta_.at(name).json; }
    /// Names of the tensors stored unchanged, in file order.
    const std::vector<std::string>& plain_names() const { return plain_; }
    /// Every tensor of the source checkpoint (quantized or not) in file order; a quantized tensor stands where its
    /// codes are.
    const std::vector<std::string>& tensor_names() const { return all_; }

    /// A quantized tensor as a view straight into the memory map (nothing is copied; valid while this container
    /// is). Every field was validated on open; the view is validated again here (norm and scale values).
    quantized_view view(const std::string& name) const {
        auto it = meta_.find(name);
        if (it == meta_.end()) throw error(errc::format, path() + ": no quantized tensor '" + name + "'");
        const entry& e = it->second;
        quantized_view v;
        v.rows = e.rows;
        v.bits = e.bits;
        v.family = e.family;
        v.layout = make_block_layout(e.cols, e.block);
        v.seed = e.seed;
        const auto codes = file_.view(container_names::codes(name));
        v.codes = codes.data;
        v.norms = file_.view(container_names::norms(name)).data;
        std::int32_t ex;
        std::memcpy(&ex, file_.view(container_names::norm_exp2(name)).data, 4);
        v.norm_exp2 = ex;
        if (e.scaled) v.scales = file_.view(container_names::scales(name)).data;
        try {
            validate(v, codes.nbytes);
        } catch (const error& err) {
            throw error(errc::format, path() + ": tensor '" + name + "': " + err.what());
        }
        return v;
    }

    /// An embedded source file (config.json, tokenizer.model, ...), or nothing.
    std::optional<std::vector<std::uint8_t>> embedded_file(const std::string& file_name) const {
        const std::string* v = file_.find_metadata(container_names::file_prefix + file_name);
        if (!v) return std::nullopt;
        return detail::base64_decode(*v, path() + ": embedded file '" + file_name + "'");
    }
    /// Names of all embedded files.
    std::vector<std::string> embedded_files() const {
        std::vector<std::string> out;
        const std::string prefix = container_names::file_prefix;
        for (const auto& m : file_.metadata())
            if (m.first.rfind(prefix, 0) == 0) out.push_back(m.first.substr(prefix.size()));
        return out;
    }

private:
    struct entry {
        io::json json;
        std::int64_t rows = 0, cols = 0;
        int bits = 0, block = 0;
        codebook_family family = codebook_family::lm2d;
        std::uint64_t seed = 0;
        bool scaled = false;
    };

    [[noreturn]] void fail(const std::string& tensor, const std::string& msg, errc code = errc::format) const {
        throw error(code, path() + (tensor.empty() ? "" : ": tensor '" + tensor + "'") + ": " + msg);
    }

    void expect_tensor(const std::string& owner, const std::string& name, io::dtype t,
                       const std::vector<std::int64_t>& shape) const {
        const io::tensor_info* info = file_.find(name);
        if (!info) fail(owner, "payload tensor '" + name + "' is missing");
        if (info->type != t || info->shape != shape)
            fail(owner, "payload tensor '" + name + "' has dtype " + io::dtype_name(info->type) + " and shape " +
                            io::detail::shape_string(info->shape) + ", expected " + io::dtype_name(t) + " " +
                            io::detail::shape_string(shape));
    }

    static std::uint64_t parse_hex64(const std::string& s, bool& ok) {
        ok = s.size() == 16;
        std::uint64_t v = 0;
        for (char c : s) {
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) ok = false;
            v = v * 16 + static_cast<std::uint64_t>(d < 0 ? 0 : d);
        }
        return v;
    }

    void parse() {
        const std::string* fmt = file_.find_metadata("format");
        if (!fmt || *fmt != "qamw") fail("", "not a qamw container (metadata 'format' is not \"qamw\")");
        const std::string* ver = file_.find_metadata("format_version");
        for (int v = min_format_version; v <= format_version; ++v)
            if (ver && *ver == std::to_string(v)) version_ = v;
        if (!version_)
            fail("", "unsupported container format version '" + (ver ? *ver : std::string("missing")) +
                         "' (this build reads versions " + std::to_string(min_format_version) + " to " +
                         std::to_string(format_version) + ")",
                 errc::unsupported);
        const std::string prefix = "qamw:";
        for (const auto& m : file_.metadata()) {
            if (m.first.rfind(prefix, 0) != 0) continue;
            std::string name = m.first.substr(prefix.size());
            if (name.empty()) fail("", "metadata key 'qamw:' names no tensor");
            entry e;
            try {
                e.json = io::json::parse(m.second, path() + ": metadata of '" + name + "'");
                const io::json& j = e.json;
                e.rows = j.at("rows").as_int();
                e.cols = j.at("cols").as_int();
                detail::check_shape(e.rows, e.cols);
                const std::int64_t bits = j.at("bits").as_int(), block = j.at("block").as_int();
                if (bits < min_bits || bits > max_bits) fail(name, "bits per pair " + std::to_string(bits) + " outside [4, 12]");
                if (block < 32 || block > 4096) fail(name, "block " + std::to_string(block) + " outside [32, 4096]");
                e.bits = static_cast<int>(bits);
                e.block = static_cast<int>(block);
                e.scaled = j.at("scaled").as_bool();
                block_layout l = make_block_layout(e.cols, e.block);
                if (l.block != e.block || l.padded != j.at("padded").as_int())
                    fail(name, "block " + std::to_string(e.block) + " / padded width do not follow the padding rule");
                bool ok;
                e.seed = parse_hex64(j.at("seed").as_string(), ok);
                if (!ok) fail(name, "seed is not 16 lowercase hex digits");
                const std::string id = j.at("codebook").as_string();
                if (id == codebook_id(codebook_family::d8, e.bits) && family_has_bits(codebook_family::d8, e.bits))
                    e.family = codebook_family::d8;
                else if (id != codebook_id(codebook_family::lm2d, e.bits))
                    fail(name, "unknown codebook '" + id + "'", errc::unsupported);
                if (e.family == codebook_family::d8 && version_ < 3)
                    fail(name, "codebook '" + id + "' in a format version " + std::to_string(version_) +
                                   " file (d8 codebooks exist from format version 3)");
                const std::uint64_t want = codebook_checksum(e.family, e.bits);
                std::uint64_t sum = parse_hex64(j.at("codebook_checksum").as_string(), ok);
                if (!ok || sum != want)
                    fail(name, "codebook checksum " + j.at("codebook_checksum").as_string() + " does not match " + id +
                                   " of this build (" + detail::hex64(want) + ")");
                const std::string src = j.at("source_dtype").as_string();
                if (src != "F32" && src != "F16" && src != "BF16")
                    fail(name, "source_dtype '" + src + "' is not F32, F16 or BF16", errc::unsupported);
                std::int64_t rb = static_cast<std::int64_t>(packed_bytes(static_cast<std::size_t>(l.padded / 2), e.bits));
                expect_tensor(name, container_names::codes(name), io::dtype::u8, {e.rows, rb});
                expect_tensor(name, container_names::norms(name), io::dtype::f16, {e.rows});
                expect_tensor(name, container_names::norm_exp2(name), io::dtype::i32, {1});
                if (e.scaled) expect_tensor(name, container_names::scales(name), io::dtype::f16, {e.cols});
                if (version_ >= 2) expect_tensor(name, container_names::checksum(name), io::dtype::u8, {8});
            } catch (const error& err) {
                if (std::string(err.what()).rfind(path(), 0) == 0) throw;
                fail(name, err.what(), err.code());
            }
            quantized_.push_back(name);
            meta_.emplace(name, std::move(e));
        }
        for (const auto& t : file_.tensors()) {
            auto dot = t.name.rfind(".qamw.");
            if (dot != std::string::npos && meta_.count(t.name.substr(0, dot))) {
                if (t.name.compare(dot, std::string::npos, ".qamw.codes") == 0) all_.push_back(t.name.substr(0, dot));
                continue;
            }
            if (meta_.count(t.name)) fail(t.name, "a plain tensor has the name of a quantized tensor");
            plain_.push_back(t.name);
            all_.push_back(t.name);
        }
    }

    io::safetensors_file file_;
    int version_ = 0;
    std::map<std::string, entry> meta_;
    std::vector<std::string> quantized_, plain_, all_;
};

}  // namespace qamw
