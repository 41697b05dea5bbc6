// tools/common/selection.hpp — which tensors of a checkpoint are quantized.
//
// Default rule: every 2-D tensor whose name ends in ".weight", except token embeddings ("embed_tokens") and the output
// head ("lm_head"), which stay unquantized unless --include names them. --include / --exclude are regular expressions
// of the subset in tools/common/pattern.hpp (linear-time matching; no catastrophic backtracking) matched against the
// whole name; --exclude wins over --include, --include over the default.
#pragma once

#include "common/pattern.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qamw::tools {

inline bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

inline bool default_selected(const std::string& name, const std::vector<std::int64_t>& shape) {
    return shape.size() == 2 && ends_with(name, ".weight") && name.find("embed_tokens") == std::string::npos &&
           name.find("lm_head") == std::string::npos;
}

struct selection {
    std::string include, exclude;  ///< empty: not given

    /// Compiles both patterns; throws errc::invalid_argument naming --include / --exclude on a bad one.
    void validate() const { compiled(); }

    bool operator()(const std::string& name, const std::vector<std::int64_t>& shape) const {
        if (shape.size() != 2) return false;
        compiled();
        if (exclude_ && exclude_->matches(name)) return false;
        if (include_ && include_->matches(name)) return true;
        return default_selected(name, shape);
    }

private:
    mutable std::optional<pattern> include_, exclude_;
    mutable std::string include_src_, exclude_src_;
    void compiled() const {
        if (!include.empty() && (!include_ || include_src_ != include))
            include_ = pattern::compile(include, "--include"), include_src_ = include;
        if (include.empty()) include_.reset();
        if (!exclude.empty() && (!exclude_ || exclude_src_ != exclude))
            exclude_ = pattern::compile(exclude, "--exclude"), exclude_src_ = exclude;
        if (exclude.empty()) exclude_.reset();
    }
};

}  // namespace qamw::tools
