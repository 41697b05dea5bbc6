// qamw/io/safetensors_reader.hpp — safetensors reader (memory-mapped, validated completely on open) and exact
// F32/F16/BF16 → f32 conversion. Checkpoint directories: io/checkpoint.hpp; writing: io/safetensors_writer.hpp.
//
// File format (https://github.com/huggingface/safetensors), all integers little-endian:
//   [u64 N][N bytes of UTF-8 JSON header, starting with '{', possibly padded with trailing spaces][data section]
// The header is an object: "__metadata__" → object of string → string (optional), and for every tensor
// name → {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, offsets relative to the data section.
// Tensors are stored row-major (C order) with no alignment guarantee: tensor_view::data may be unaligned for its dtype.
//
// What safetensors_file::open rejects (qamw::error whose message starts with the file path and names the tensor):
//   file shorter than 8 bytes; N above 100 MiB or beyond the end of the file (checked before anything is allocated);
//   a header that does not start with '{', is not valid UTF-8 or strict JSON (see qamw/detail/json.hpp; duplicate keys included);
//   "__metadata__" that is not an object of strings; a tensor entry that is not an object, lacks or mistypes "dtype",
//   "shape" or "data_offsets", or has any other key; shape dims that are not non-negative integer literals; an unknown
//   dtype (errc::unsupported); data_offsets that are not two integers begin <= end inside the data section;
//   end - begin != numel * dtype_size (computed with overflow checks); tensors that overlap; bytes of the data section
//   covered by no tensor (holes or trailing bytes: the spec requires the tensors to tile the data section exactly).
// Errors are errc::format except unknown dtypes (errc::unsupported) and file-system failures (errc::io).
//
// Lookups are O(log n): tensors and "__metadata__" keys are indexed by name once, on open.
#pragma once

#include <qamw/detail/half.hpp>
#include <qamw/detail/json.hpp>
#include <qamw/error.hpp>
#include <qamw/io/mapped_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
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
    /// nullptr if absent (binary search).
    const std::string* find_metadata(std::string_view key) const {
        auto it = std::lower_bound(meta_by_key_.begin(), meta_by_key_.end(), key,
                                   [&](uint32_t i, std::string_view k) { return metadata_[i].first < k; });
        return it != meta_by_key_.end() && metadata_[*it].first == key ? &metadata_[*it].second : nullptr;
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
    std::vector<uint32_t> meta_by_key_;  // indices into metadata_, sorted by key

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
        if (tensors_.size() > UINT32_MAX || metadata_.size() > UINT32_MAX) fail("too many tensors or metadata entries");
        meta_by_key_.resize(metadata_.size());
        for (std::size_t i = 0; i < meta_by_key_.size(); ++i) meta_by_key_[i] = static_cast<uint32_t>(i);
        std::sort(meta_by_key_.begin(), meta_by_key_.end(),
                  [&](uint32_t a, uint32_t b) { return metadata_[a].first < metadata_[b].first; });

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

}  // namespace qamw::io
