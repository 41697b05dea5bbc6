// qamw/io/safetensors_writer.hpp — streaming safetensors writer on io::atomic_file (format: io/safetensors_reader.hpp).
#pragma once

#include <qamw/detail/json.hpp>
#include <qamw/error.hpp>
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/safetensors_reader.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace qamw::io {

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
    /// hooks: observers of the temporary file (io/atomic_file.hpp), e.g. a program's signal-time cleanup.
    explicit safetensors_writer(std::string path, temp_file_hooks hooks = {}) : path_(std::move(path)), hooks_(hooks) {}

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
        auto [it, inserted] = metadata_index_.emplace(key, metadata_.size());
        if (!inserted) {
            metadata_[it->second].second = std::move(value);
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
            text += "\"__metadata__\":{";
            for (std::size_t i = 0; i < metadata_.size(); ++i)
                text += (i ? "," : "") + json(metadata_[i].first).dump() + ":" + json(metadata_[i].second).dump();
            text += '}';
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
        atomic_file f(path_, hooks_);
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
    std::unordered_map<std::string, std::size_t> metadata_index_;  // key → position in metadata_ (O(1) set_metadata)
    temp_file_hooks hooks_;
    std::optional<atomic_file> file_;
    uint64_t offset_ = 0;
    std::size_t next_ = 0;
    bool begun_ = false;

    [[noreturn]] void fail(const std::string& msg) const {
        throw error(errc::invalid_argument, "safetensors_writer '" + path_ + "': " + msg);
    }
};

}  // namespace qamw::io
