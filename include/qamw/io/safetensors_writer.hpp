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
#include <utility>
#include <vector>

namespace qamw::io {

/// Streaming writer: declare every tensor with add() (and metadata), call begin() to write the header, then write()
/// each tensor's bytes in declaration order (one call per tensor, exactly its size, little-endian row-major), then
/// commit(). A producer whose tensors become ready out of declaration order, or too large to hold at once, uses
/// write_part() instead: any tensor at any time, each tensor's bytes in order in as many pieces as it likes, each piece
/// landing at its place in the file (io::atomic_file::write_at). The file is an atomic_file: nothing exists at the path before commit() succeeds, and a writer destroyed
/// earlier (or whose commit() failed) leaves no file behind. The header is compact JSON with "__metadata__" first
/// (when set), tensors in declaration order with contiguous offsets, padded with spaces so the data section starts
/// at a multiple of 8 bytes.
/// Misuse (duplicate or invalid names, negative dims, size overflow, calls out of order, wrong sizes, commit with
/// tensors missing or incomplete) throws errc::invalid_argument naming the path; file-system failures throw errc::io.
class safetensors_writer {
public:
    /// hooks: observers of the temporary file (io/atomic_file.hpp), e.g. a program's signal-time cleanup.
    explicit safetensors_writer(std::string path, temp_file_hooks hooks = {}) : path_(std::move(path)), hooks_(hooks) {}

    /// Declares the next tensor. Names must be non-empty valid UTF-8, unique, and not "__metadata__".
    void add(std::string name, dtype t, std::vector<int64_t> shape) {
        if (begun_) fail("add('" + name + "') after begin()");
        if (name.empty() || name == "__metadata__" || !json::is_valid_utf8(name))
            fail("invalid tensor name '" + name + "'");
        if (index_.count(name)) fail("duplicate tensor '" + name + "'");
        int64_t n;
        if (!detail::checked_numel(shape, n) || static_cast<uint64_t>(n) > (UINT64_MAX - offset_) / dtype_size(t) ||
            static_cast<uint64_t>(n) * dtype_size(t) > SIZE_MAX)
            fail("tensor '" + name + "': invalid shape " + detail::shape_string(shape));
        index_.emplace(name, tensors_.size());
        tensor_info info;
        info.name = std::move(name);
        info.type = t;
        info.shape = std::move(shape);
        info.begin = offset_;
        info.end = offset_ + static_cast<uint64_t>(n) * dtype_size(t);
        offset_ = info.end;
        tensors_.push_back(std::move(info));
        filled_.push_back(0);
        complete_.push_back(false);
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
        data_start_ = 8 + text.size();
        begun_ = true;
    }

    /// Writes the bytes of the next declared tensor (the first not yet written, in declaration order), all at once.
    void write(std::string_view name, const void* data, std::size_t nbytes) {
        if (!file_) fail("write('" + std::string(name) + "') before begin() or after commit()");
        if (next_ == tensors_.size()) fail("write('" + std::string(name) + "'): all declared tensors are written");
        const tensor_info& t = tensors_[next_];
        if (name != t.name)
            fail("write('" + std::string(name) + "')" +
                 (index_.count(std::string(name)) ? " out of order: expected '" + t.name + "'"
                                                  : ": tensor was not declared"));
        if (filled_[next_] != 0 || nbytes != t.end - t.begin)
            fail("write('" + t.name + "'): got " + std::to_string(nbytes) + " bytes, expected " +
                 std::to_string(t.end - t.begin - filled_[next_]) + (filled_[next_] ? " (it was partly written)" : ""));
        put(next_, data, nbytes);
    }

    /// Writes the next `nbytes` bytes of tensor `name` (after those its earlier pieces wrote), in any order between
    /// tensors. A tensor is complete when its pieces add up to its size; more is an error.
    void write_part(std::string_view name, const void* data, std::size_t nbytes) {
        if (!file_) fail("write_part('" + std::string(name) + "') before begin() or after commit()");
        auto it = index_.find(std::string(name));
        if (it == index_.end()) fail("write_part('" + std::string(name) + "'): tensor was not declared");
        const tensor_info& t = tensors_[it->second];
        const uint64_t left = t.end - t.begin - filled_[it->second];
        if (complete_[it->second] || nbytes > left)
            fail("write_part('" + t.name + "'): " + std::to_string(nbytes) + " bytes, but only " +
                 std::to_string(left) + " of its " + std::to_string(t.end - t.begin) + " are left");
        put(it->second, data, nbytes);
    }

    /// Checks that every declared tensor was written completely, then flushes and renames the file onto the path.
    void commit() {
        if (!file_) fail("commit() before begin() or after commit()");
        if (next_ != tensors_.size()) {
            file_.reset();  // removes the temporary file
            const tensor_info& t = tensors_[next_];
            fail("commit(): tensor '" + t.name + "' was declared but " +
                 (filled_[next_] ? "written only in part (" + std::to_string(filled_[next_]) + " of " +
                                       std::to_string(t.end - t.begin) + " bytes)"
                                 : std::string("not written")));
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
    std::vector<uint64_t> filled_;                        // bytes written of each tensor
    std::vector<bool> complete_;                          // each tensor written completely
    std::unordered_map<std::string, std::size_t> index_;  // name → position in tensors_
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::unordered_map<std::string, std::size_t> metadata_index_;  // key → position in metadata_ (O(1) set_metadata)
    temp_file_hooks hooks_;
    std::optional<atomic_file> file_;
    uint64_t offset_ = 0;
    uint64_t data_start_ = 0;  // file offset of the data section
    std::size_t next_ = 0;     // the first tensor in declaration order not completely written
    bool begun_ = false;

    void put(std::size_t i, const void* data, std::size_t nbytes) {
        const tensor_info& t = tensors_[i];
        if (nbytes && !data) fail("write('" + t.name + "'): null data");
        file_->write_at(data_start_ + t.begin + filled_[i], data, nbytes);
        filled_[i] += nbytes;
        if (filled_[i] == t.end - t.begin) complete_[i] = true;  // also an empty tensor, once written
        while (next_ < tensors_.size() && complete_[next_]) ++next_;
    }

    [[noreturn]] void fail(const std::string& msg) const {
        throw error(errc::invalid_argument, "safetensors_writer '" + path_ + "': " + msg);
    }
};

}  // namespace qamw::io
