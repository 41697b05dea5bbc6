// qamw/io/safetensors.hpp — safetensors reader (memory-mapped, validated completely on open), HF checkpoint
// directories (single file or sharded index), exact F32/F16/BF16 → f32 conversion, and a streaming writer.
//
// File format (https://github.com/huggingface/safetensors), all integers little-endian:
//   [u64 N][N bytes of UTF-8 JSON header, starting with '{', possibly padded with trailing spaces][data section]
// The header is an object: "__metadata__" → object of string → string (optional), and for every tensor
// name → {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, offsets relative to the data section.
// Tensors are stored row-major (C order) with no alignment guarantee: tensor_view::data may be unaligned for its dtype.
//
// What safetensors_file::open rejects (qamw::error whose message starts with the file path and names the tensor):
//   file shorter than 8 bytes; N above 100 MiB or beyond the end of the file (checked before anything is allocated);
//   a header that does not start with '{', is not valid UTF-8 or strict JSON (see json.hpp; duplicate keys included);
//   "__metadata__" that is not an object of strings; a tensor entry that is not an object, lacks or mistypes "dtype",
//   "shape" or "data_offsets", or has any other key; shape dims that are not non-negative integer literals; an unknown
//   dtype (errc::unsupported); data_offsets that are not two integers begin <= end inside the data section;
//   end - begin != numel * dtype_size (computed with overflow checks); tensors that overlap; bytes of the data section
//   covered by no tensor (holes or trailing bytes: the spec requires the tensors to tile the data section exactly).
// Errors are errc::format except unknown dtypes (errc::unsupported) and file-system failures (errc::io).
#pragma once

#include <qamw/detail/half.hpp>
#include <qamw/error.hpp>
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/json.hpp>
#include <qamw/io/mapped_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace qamw::io {

enum class dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

namespace detail {
struct dtype_row {
    dtype type;
    const char* name;
    std::size_t size;
};
inline constexpr dtype_row dtype_table[] = {
    {dtype::f64, "F64", 8}, {dtype::f32, "F32", 4}, {dtype::f16, "F16", 2}, {dtype::bf16, "BF16", 2},
    {dtype::i64, "I64", 8}, {dtype::i32, "I32", 4}, {dtype::i16, "I16", 2}, {dtype::i8, "I8", 1},
    {dtype::u64, "U64", 8}, {dtype::u32, "U32", 4}, {dtype::u16, "U16", 2}, {dtype::u8, "U8", 1},
    {dtype::boolean, "BOOL", 1},
};
inline const dtype_row& dtype_entry(dtype t) {
    auto i = static_cast<std::size_t>(t);
    if (i >= std::size(dtype_table)) throw error(errc::invalid_argument, "invalid dtype value " + std::to_string(i));
    return dtype_table[i];
}
}  // namespace detail

/// Bytes per element.
inline std::size_t dtype_size(dtype t) { return detail::dtype_entry(t).size; }

/// The dtype's spelling in safetensors headers ("F32", "BF16", "BOOL", ...).
inline const char* dtype_name(dtype t) { return detail::dtype_entry(t).name; }

/// Inverse of dtype_name (exact, case-sensitive). Throws errc::unsupported "<context>: unknown dtype 'X'" otherwise
/// (this includes spec dtypes qamw does not handle, such as F8_E4M3).
inline dtype parse_dtype(std::string_view s, const std::string& context) {
    for (const auto& row : detail::dtype_table)
        if (s == row.name) return row.type;
    throw error(errc::unsupported, (context.empty() ? "" : context + ": ") + "unknown dtype '" + std::string(s) + "'");
}

namespace detail {
/// Product of the dims, false on a negative dim or if the product exceeds INT64_MAX.
inline bool checked_numel(const std::vector<int64_t>& shape, int64_t& out) {
    bool zero = false;
    for (int64_t d : shape) {
        if (d < 0) return false;
        zero = zero || d == 0;
    }
    uint64_t n = 1;
    if (zero) n = 0;
    else
        for (int64_t d : shape) {
            if (n > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d)) return false;
            n *= static_cast<uint64_t>(d);
        }
    out = static_cast<int64_t>(n);
    return true;
}
inline std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}
/// A JSON value for an error message, cut to 40 characters.
inline std::string brief(const json& j) {
    std::string s = j.dump();
    if (s.size() <= 40) return s;
    std::size_t cut = 37;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    return s.substr(0, cut) + "...";
}
inline uint64_t load_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
constexpr uint64_t max_header_size = uint64_t{100} << 20;  ///< 100 MiB, checked before parsing
}  // namespace detail

struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<int64_t> shape;  ///< row-major; [] is a scalar (one element)
    uint64_t begin = 0, end = 0;  ///< byte offsets in the data section, end - begin == numel() * dtype_size(type)

    /// Product of the shape. Throws errc::invalid_argument on a negative dim or int64 overflow (never for a
    /// tensor_info that came from safetensors_file, which validated it).
    int64_t numel() const {
        int64_t n;
        if (!detail::checked_numel(shape, n))
            throw error(errc::invalid_argument, "tensor '" + name + "': invalid shape " + detail::shape_string(shape));
        return n;
    }
};

/// A tensor's bytes inside a mapped file: valid while the safetensors_file (or checkpoint) lives.
/// `data` is not necessarily aligned to the dtype's size.
struct tensor_view {
    const tensor_info* info;
    const uint8_t* data;
    std::size_t nbytes;
};

class safetensors_file {
public:
    /// Maps and validates `path` (see the file comment for every check). Throws qamw::error naming the path.
    static safetensors_file open(const std::string& path) {
        safetensors_file f;
        f.path_ = path;
        f.map_ = mapped_file(path);
        f.parse();
        return f;
    }

    const std::string& path() const { return path_; }
    /// All tensors sorted by data offset (ties, i.e. empty tensors, in header order).
    const std::vector<tensor_info>& tensors() const { return tensors_; }
    /// nullptr if absent (binary search).
    const tensor_info* find(std::string_view name) const {
        auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                   [&](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
        return it != by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
    }
    /// The bytes of `info`, which must be an element of tensors() (else errc::invalid_argument).
    tensor_view view(const tensor_info& info) const {
        if (tensors_.empty() || std::less<const tensor_info*>()(&info, tensors_.data()) ||
            !std::less<const tensor_info*>()(&info, tensors_.data() + tensors_.size()))
            throw error(errc::invalid_argument,
                        path_ + ": tensor_info '" + info.name + "' does not belong to this file");
        return {&info, map_.data() + data_offset_ + info.begin, static_cast<std::size_t>(info.end - info.begin)};
    }
    /// Throws errc::format "<file>: no tensor 'x'" if absent.
    tensor_view view(std::string_view name) const {
        const tensor_info* t = find(name);
        if (!t) throw error(errc::format, path_ + ": no tensor '" + std::string(name) + "'");
        return view(*t);
    }
    /// "__metadata__" in header order.
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
    const std::string* find_metadata(std::string_view key) const {
        for (const auto& m : metadata_)
            if (m.first == key) return &m.second;
        return nullptr;
    }
    std::uint64_t file_size() const { return map_.size(); }
    /// Byte offset of the data section in the file (8 + header length).
    std::uint64_t data_offset() const { return data_offset_; }

private:
    std::string path_;
    mapped_file map_;
    uint64_t data_offset_ = 0;
    std::vector<tensor_info> tensors_;
    std::vector<uint32_t> by_name_;  // indices into tensors_, sorted by name
    std::vector<std::pair<std::string, std::string>> metadata_;

    [[noreturn]] void fail(const std::string& msg, errc code = errc::format) const {
        throw error(code, path_ + ": " + msg);
    }

    static bool to_offset(const json& j, uint64_t& out) {
        if (!j.is_int() || j.as_int() < 0) return false;
        out = static_cast<uint64_t>(j.as_int());
        return true;
    }

    tensor_info parse_entry(const std::string& name, const json& v, uint64_t data_size) const {
        const std::string where = "tensor '" + name + "': ";
        if (!v.is_object()) fail(where + "entry is not an object");
        for (const auto& m : v.members())
            if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets")
                fail(where + "unexpected key '" + m.first + "'");
        const json* jt = v.find("dtype");
        const json* js = v.find("shape");
        const json* jo = v.find("data_offsets");
        if (!jt) fail(where + "missing 'dtype'");
        if (!js) fail(where + "missing 'shape'");
        if (!jo) fail(where + "missing 'data_offsets'");
        tensor_info t;
        t.name = name;
        if (!jt->is_string()) fail(where + "'dtype' is not a string");
        t.type = parse_dtype(jt->as_string(), path_ + ": tensor '" + name + "'");
        if (!js->is_array()) fail(where + "'shape' is not an array");
        for (const json& d : js->items()) {
            if (!d.is_int() || d.as_int() < 0)
                fail(where + "shape dims must be non-negative integers, found " + detail::brief(d));
            t.shape.push_back(d.as_int());
        }
        if (!jo->is_array() || jo->items().size() != 2 || !to_offset(jo->items()[0], t.begin) ||
            !to_offset(jo->items()[1], t.end))
            fail(where + "'data_offsets' must be [begin, end] with two non-negative integers, found " +
                 detail::brief(*jo));
        const std::string offs = "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
        if (t.begin > t.end) fail(where + offs + " have begin > end");
        if (t.end > data_size)
            fail(where + offs + " exceed the data section (" + std::to_string(data_size) + " bytes)");
        int64_t n;
        if (!detail::checked_numel(t.shape, n)) fail(where + "shape " + detail::shape_string(t.shape) + " overflows");
        uint64_t es = dtype_size(t.type);
        if (static_cast<uint64_t>(n) > UINT64_MAX / es)
            fail(where + "shape " + detail::shape_string(t.shape) + " overflows");
        uint64_t need = static_cast<uint64_t>(n) * es;
        if (t.end - t.begin != need)
            fail(where + offs + " hold " + std::to_string(t.end - t.begin) + " bytes but shape " +
                 detail::shape_string(t.shape) + " of " + dtype_name(t.type) + " needs " + std::to_string(need));
        return t;
    }

    void parse() {
        const uint64_t size = map_.size();
        if (size < 8) fail("file is shorter than 8 bytes (" + std::to_string(size) + " bytes), not a safetensors file");
        const uint64_t n = detail::load_le64(map_.data());
        if (n > detail::max_header_size)
            fail("header length " + std::to_string(n) + " exceeds the 100 MiB limit");
        if (n > size - 8)
            fail("header length " + std::to_string(n) + " exceeds the file size (" + std::to_string(size) + " bytes)");
        data_offset_ = 8 + n;
        const uint64_t data_size = size - data_offset_;
        std::string_view text(reinterpret_cast<const char*>(map_.data() + 8), static_cast<std::size_t>(n));
        if (text.empty() || text[0] != '{') fail("header does not start with '{'");
        const json header = json::parse(text, path_ + " header");

        for (const auto& m : header.members()) {
            if (m.first == "__metadata__") {
                if (!m.second.is_object()) fail("__metadata__ is not an object");
                for (const auto& kv : m.second.members()) {
                    if (!kv.second.is_string()) fail("__metadata__ value for '" + kv.first + "' is not a string");
                    metadata_.emplace_back(kv.first, kv.second.as_string());
                }
                continue;
            }
            tensors_.push_back(parse_entry(m.first, m.second, data_size));
        }
        if (tensors_.size() > UINT32_MAX) fail("too many tensors");

        std::stable_sort(tensors_.begin(), tensors_.end(), [](const tensor_info& a, const tensor_info& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        // The tensors must tile [0, data_size) exactly.
        uint64_t cursor = 0;
        const tensor_info* prev = nullptr;
        for (const tensor_info& t : tensors_) {
            if (t.begin < cursor)
                fail("tensor '" + t.name + "' (bytes " + std::to_string(t.begin) + ".." + std::to_string(t.end) +
                     ") overlaps tensor '" + prev->name + "' (bytes " + std::to_string(prev->begin) + ".." +
                     std::to_string(prev->end) + ")");
            if (t.begin > cursor)
                fail("bytes " + std::to_string(cursor) + ".." + std::to_string(t.begin) +
                     " of the data section are not covered by any tensor (hole before tensor '" + t.name + "')");
            cursor = t.end;
            prev = &t;
        }
        if (cursor != data_size)
            fail("bytes " + std::to_string(cursor) + ".." + std::to_string(data_size) +
                 " at the end of the data section are not covered by any tensor");

        by_name_.resize(tensors_.size());
        for (std::size_t i = 0; i < by_name_.size(); ++i) by_name_[i] = static_cast<uint32_t>(i);
        std::sort(by_name_.begin(), by_name_.end(),
                  [&](uint32_t a, uint32_t b) { return tensors_[a].name < tensors_[b].name; });
    }
};

/// A Hugging Face checkpoint. open(path) accepts:
///   - a directory holding model.safetensors (preferred, as transformers does) or model.safetensors.index.json;
///   - a path to a single .safetensors file, or to a *.index.json file.
/// Index files: a JSON object (same strict parser, 100 MiB cap) whose "weight_map" is a non-empty object
/// tensor name → shard file name; shard names must be plain file names in the index's directory (no '/', '\\', ':',
/// "..", NUL). Every shard is opened and validated; every listed tensor must be in its shard; every tensor of a shard
/// must be listed, for that shard (a name in two shards is an error). Errors name the index or shard path.
class checkpoint {
public:
    static checkpoint open(const std::string& path) {
        namespace fs = std::filesystem;
        checkpoint c;
        std::error_code ec;
        fs::file_status st = fs::status(path, ec);
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw error(errc::io, "cannot open checkpoint '" + path + "': " + ec.message());
        std::string index;
        if (fs::is_directory(st)) {
            c.directory_ = path;
            std::string single = (fs::path(path) / "model.safetensors").string();
            std::string idx = (fs::path(path) / "model.safetensors.index.json").string();
            if (fs::exists(single, ec)) c.shards_.push_back(safetensors_file::open(single));
            else if (fs::exists(idx, ec)) index = idx;
            else
                throw error(errc::io,
                            "'" + path + "' holds neither model.safetensors nor model.safetensors.index.json");
        } else if (fs::exists(st)) {
            c.directory_ = fs::path(path).parent_path().string();
            if (c.directory_.empty()) c.directory_ = ".";
            const std::string suffix = ".index.json";
            if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
                index = path;
            else
                c.shards_.push_back(safetensors_file::open(path));
        } else {
            throw error(errc::io, "cannot open checkpoint '" + path + "': no such file or directory");
        }
        if (!index.empty()) c.load_index(index);
        c.build();
        return c;
    }

    /// All tensor names, ordered by (shard, data offset); shards are ordered by file name.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(entries_.size());
        for (const auto& e : entries_) out.push_back(e.info->name);
        return out;
    }
    /// nullptr if absent.
    const tensor_info* find(std::string_view name) const {
        const entry* e = lookup(name);
        return e ? e->info : nullptr;
    }
    /// Throws errc::format "<checkpoint>: no tensor 'x'" if absent.
    tensor_view view(std::string_view name) const {
        const entry* e = lookup(name);
        if (!e) throw error(errc::format, source_ + ": no tensor '" + std::string(name) + "'");
        return shards_[e->shard].view(*e->info);
    }
    /// The directory of config.json / tokenizer files ("." for a bare file name).
    const std::string& directory() const { return directory_; }
    const std::vector<safetensors_file>& shards() const { return shards_; }
    /// The shard holding `name`, or nullptr.
    const safetensors_file* shard_of(std::string_view name) const {
        const entry* e = lookup(name);
        return e ? &shards_[e->shard] : nullptr;
    }

private:
    struct entry {
        std::size_t shard;
        const tensor_info* info;
    };
    std::string directory_;
    std::string source_;  // the path errors name: the single file or the index
    std::vector<safetensors_file> shards_;
    std::vector<entry> entries_;  // (shard, offset) order
    std::vector<std::size_t> by_name_;

    const entry* lookup(std::string_view name) const {
        auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                   [&](std::size_t i, std::string_view n) { return entries_[i].info->name < n; });
        return it != by_name_.end() && entries_[*it].info->name == name ? &entries_[*it] : nullptr;
    }

    [[noreturn]] void fail(const std::string& msg) const { throw error(errc::format, source_ + ": " + msg); }

    void load_index(const std::string& index) {
        source_ = index;
        mapped_file m(index);
        if (m.size() > detail::max_header_size) fail("index larger than 100 MiB");
        json j = json::parse(std::string_view(reinterpret_cast<const char*>(m.data()), m.size()), index);
        if (!j.is_object()) fail("not a JSON object");
        const json* wm = j.find("weight_map");
        if (!wm) fail("missing 'weight_map'");
        if (!wm->is_object()) fail("'weight_map' is not an object");
        if (wm->members().empty()) fail("'weight_map' is empty");
        std::vector<std::string> files;
        std::unordered_map<std::string, std::string> owner;  // tensor → shard file
        for (const auto& kv : wm->members()) {
            if (!kv.second.is_string()) fail("'weight_map' value for '" + kv.first + "' is not a string");
            const std::string& f = kv.second.as_string();
            if (f.empty() || f == "." || f.find_first_of(std::string("/\\:\0", 4)) != std::string::npos ||
                f.find("..") != std::string::npos)
                fail("tensor '" + kv.first + "': shard name '" + f + "' is not a plain file name");
            files.push_back(f);
            owner.emplace(kv.first, f);
        }
        std::sort(files.begin(), files.end());
        files.erase(std::unique(files.begin(), files.end()), files.end());
        for (const std::string& f : files) {
            std::string p = (std::filesystem::path(directory_) / f).string();
            std::error_code ec;
            if (!std::filesystem::exists(p, ec))
                throw error(errc::io, index + ": shard '" + f + "' does not exist (" + p + ")");
            shards_.push_back(safetensors_file::open(p));
        }
        for (std::size_t s = 0; s < shards_.size(); ++s)
            for (const tensor_info& t : shards_[s].tensors()) {
                auto it = owner.find(t.name);
                if (it == owner.end())
                    fail("tensor '" + t.name + "' of shard '" + files[s] + "' is not listed in 'weight_map'");
                if (it->second != files[s])
                    fail("tensor '" + t.name + "' is present in shards '" + files[s] + "' and '" + it->second + "'");
            }
        for (const auto& kv : owner) {
            std::size_t s = static_cast<std::size_t>(
                std::lower_bound(files.begin(), files.end(), kv.second) - files.begin());
            if (!shards_[s].find(kv.first))
                fail("tensor '" + kv.first + "' is listed for shard '" + kv.second + "' but absent from it");
        }
    }

    void build() {
        if (source_.empty()) source_ = shards_.front().path();
        for (std::size_t s = 0; s < shards_.size(); ++s)
            for (const tensor_info& t : shards_[s].tensors()) entries_.push_back({s, &t});
        by_name_.resize(entries_.size());
        for (std::size_t i = 0; i < by_name_.size(); ++i) by_name_[i] = i;
        std::sort(by_name_.begin(), by_name_.end(),
                  [&](std::size_t a, std::size_t b) { return entries_[a].info->name < entries_[b].info->name; });
        for (std::size_t i = 1; i < by_name_.size(); ++i) {
            const entry& a = entries_[by_name_[i - 1]];
            const entry& b = entries_[by_name_[i]];
            if (a.info->name == b.info->name)
                throw error(errc::format, source_ + ": tensor '" + a.info->name + "' is present in shards '" +
                                              shards_[a.shard].path() + "' and '" + shards_[b.shard].path() + "'");
        }
    }
};


/// Converts an F32, F16 or BF16 tensor to numel() floats in `out` (little-endian source, any alignment).
/// Throws errc::unsupported naming the tensor for other dtypes, errc::invalid_argument for an inconsistent view.
inline void to_f32(const tensor_view& v, float* out) {
    if (!v.info) throw error(errc::invalid_argument, "to_f32: tensor_view without tensor_info");
    const tensor_info& t = *v.info;
    const std::size_t n = static_cast<std::size_t>(t.numel());
    if (v.nbytes != n * dtype_size(t.type) || (n != 0 && !v.data))
        throw error(errc::invalid_argument, "to_f32: tensor '" + t.name + "': view holds " +
                                                std::to_string(v.nbytes) + " bytes, shape needs " +
                                                std::to_string(n * dtype_size(t.type)));
    const uint8_t* p = v.data;
    switch (t.type) {
        case dtype::f32:
            for (std::size_t i = 0; i < n; ++i, p += 4) {
                uint32_t bits = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
                std::memcpy(out + i, &bits, 4);
            }
            return;
        case dtype::f16:
            for (std::size_t i = 0; i < n; ++i, p += 2) out[i] = qamw::detail::f16_to_f32(static_cast<uint16_t>(p[0] | p[1] << 8));
            return;
        case dtype::bf16:
            for (std::size_t i = 0; i < n; ++i, p += 2) out[i] = qamw::detail::bf16_to_f32(static_cast<uint16_t>(p[0] | p[1] << 8));
            return;
        default:
            throw error(errc::unsupported, "to_f32: tensor '" + t.name + "' has dtype " + dtype_name(t.type) +
                                               " (only F32, F16 and BF16 convert to f32)");
    }
}

/// Same, into a new vector of numel() floats.
inline std::vector<float> to_f32(const tensor_view& v) {
    if (!v.info) throw error(errc::invalid_argument, "to_f32: tensor_view without tensor_info");
    std::vector<float> out(static_cast<std::size_t>(v.info->numel()));
    to_f32(v, out.data());
    return out;
}

/// Streaming writer: declare every tensor with add() (and metadata), call begin() to write the header, then write()
/// each tensor's bytes in declaration order (one call per tensor, exactly its size, little-endian row-major), then
/// commit(). The file is an atomic_file: nothing exists at the path before commit() succeeds, and a writer destroyed
/// earlier (or whose commit() failed) leaves no file behind. The header is compact JSON with "__metadata__" first
/// (when set), tensors in declaration order with contiguous offsets, padded with spaces so the data section starts
/// at a multiple of 8 bytes.
/// Misuse (duplicate or invalid names, negative dims, size overflow, calls out of order, wrong sizes, commit with
/// tensors missing) throws errc::invalid_argument naming the path; file-system failures throw errc::io.
class safetensors_writer {
public:
    explicit safetensors_writer(std::string path) : path_(std::move(path)) {}

    /// Declares the next tensor. Names must be non-empty valid UTF-8, unique, and not "__metadata__".
    void add(std::string name, dtype t, std::vector<int64_t> shape) {
        if (begun_) fail("add('" + name + "') after begin()");
        if (name.empty() || name == "__metadata__" || !json::is_valid_utf8(name))
            fail("invalid tensor name '" + name + "'");
        if (names_.count(name)) fail("duplicate tensor '" + name + "'");
        int64_t n;
        if (!detail::checked_numel(shape, n) || static_cast<uint64_t>(n) > (UINT64_MAX - offset_) / dtype_size(t) ||
            static_cast<uint64_t>(n) * dtype_size(t) > SIZE_MAX)
            fail("tensor '" + name + "': invalid shape " + detail::shape_string(shape));
        names_.insert(name);
        tensor_info info;
        info.name = std::move(name);
        info.type = t;
        info.shape = std::move(shape);
        info.begin = offset_;
        info.end = offset_ + static_cast<uint64_t>(n) * dtype_size(t);
        offset_ = info.end;
        tensors_.push_back(std::move(info));
    }

    /// Sets (or replaces) a "__metadata__" entry. Before begin(); key and value must be valid UTF-8.
    void set_metadata(std::string key, std::string value) {
        if (begun_) fail("set_metadata('" + key + "') after begin()");
        if (!json::is_valid_utf8(key) || !json::is_valid_utf8(value)) fail("metadata '" + key + "' is not valid UTF-8");
        for (auto& m : metadata_)
            if (m.first == key) {
                m.second = std::move(value);
                return;
            }
        metadata_.emplace_back(std::move(key), std::move(value));
    }

    /// Creates the temporary file and writes the 8-byte length and the header.
    void begin() {
        if (begun_) fail("begin() called twice");
        // Assembled member by member (json::set is linear per call, quadratic for thousands of tensors).
        std::string text = "{";
        if (!metadata_.empty()) {
            json m = json::object();
            for (const auto& kv : metadata_) m.set(kv.first, kv.second);
            text += "\"__metadata__\":" + m.dump();
        }
        for (const tensor_info& t : tensors_) {
            json e = json::object();
            e.set("dtype", dtype_name(t.type));
            json& sh = e.set("shape", json::array());
            for (int64_t d : t.shape) sh.push_back(d);
            json& o = e.set("data_offsets", json::array());
            o.push_back(t.begin);
            o.push_back(t.end);
            text += (text.size() > 1 ? "," : "") + json(t.name).dump() + ":" + e.dump();
        }
        text += '}';
        text.append((8 - text.size() % 8) % 8, ' ');
        if (text.size() > detail::max_header_size) fail("header larger than 100 MiB");
        uint8_t len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
        atomic_file f(path_);
        f.write(len, 8);
        f.write(text);
        file_.emplace(std::move(f));
        begun_ = true;
    }

    /// Writes the bytes of the next declared tensor.
    void write(std::string_view name, const void* data, std::size_t nbytes) {
        if (!file_) fail("write('" + std::string(name) + "') before begin() or after commit()");
        if (next_ == tensors_.size()) fail("write('" + std::string(name) + "'): all declared tensors are written");
        const tensor_info& t = tensors_[next_];
        if (name != t.name)
            fail("write('" + std::string(name) + "')" +
                 (names_.count(std::string(name)) ? " out of order: expected '" + t.name + "'"
                                                  : ": tensor was not declared"));
        if (nbytes != t.end - t.begin)
            fail("write('" + t.name + "'): got " + std::to_string(nbytes) + " bytes, expected " +
                 std::to_string(t.end - t.begin));
        if (nbytes && !data) fail("write('" + t.name + "'): null data");
        file_->write(data, nbytes);
        ++next_;
    }

    /// Checks that every declared tensor was written, then flushes and renames the file onto the path.
    void commit() {
        if (!file_) fail("commit() before begin() or after commit()");
        if (next_ != tensors_.size()) {
            file_.reset();  // removes the temporary file
            fail("commit(): tensor '" + tensors_[next_].name + "' was declared but not written");
        }
        file_->commit();
        file_.reset();
    }

    const std::string& path() const { return path_; }
    /// The declared tensors, with their data offsets.
    const std::vector<tensor_info>& tensors() const { return tensors_; }

private:
    std::string path_;
    std::vector<tensor_info> tensors_;
    std::unordered_set<std::string> names_;
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::optional<atomic_file> file_;
    uint64_t offset_ = 0;
    std::size_t next_ = 0;
    bool begun_ = false;

    [[noreturn]] void fail(const std::string& msg) const {
        throw error(errc::invalid_argument, "safetensors_writer '" + path_ + "': " + msg);
    }
};

}  // namespace qamw::io
