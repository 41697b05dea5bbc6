// tools/common/selection.hpp — which tensors of a checkpoint are quantized.
//
// Default rule: every 2-D tensor whose name ends in ".weight", except token embeddings ("embed_tokens") and the output
// head ("lm_head"), which stay unquantized unless --include names them. --include / --exclude are ECMAScript regular
// expressions matched against the whole name; --exclude wins over --include, --include over the default.
#pragma once

#include <cstdint>
#include <regex>
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

    bool operator()(const std::string& name, const std::vector<std::int64_t>& shape) const {
        if (shape.size() != 2) return false;
        if (!exclude.empty() && std::regex_match(name, std::regex(exclude))) return false;
        if (!include.empty() && std::regex_match(name, std::regex(include))) return true;
        return default_selected(name, shape);
    }
};

}  // namespace qamw::tools
