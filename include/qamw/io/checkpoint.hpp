// qamw/io/checkpoint.hpp — a Hugging Face checkpoint: a directory, a single .safetensors file or a sharded index,
// read through io/safetensors_reader.hpp.
#pragma once

#include <qamw/detail/json.hpp>
#include <qamw/error.hpp>
#include <qamw/io/mapped_file.hpp>
#include <qamw/io/safetensors_reader.hpp>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qamw::io {

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


}  // namespace qamw::io
