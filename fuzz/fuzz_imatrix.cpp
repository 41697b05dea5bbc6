// fuzz/fuzz_imatrix.cpp — tools::parse_imatrix (llama.cpp's legacy imatrix.dat, tools/common/imatrix.hpp) on arbitrary
// bytes, then imatrix_to_stats against the shapes of the vendored stories260K model (5 layers, hidden 64, MLP 172).
//
// Invariants checked on accepted files: at least one entry, unique non-empty names without NUL, ncall ≥ 1, finite
// non-negative values; a converted entry has mean_sq_j = value_j / ncall and mean_abs_j = √mean_sq_j (in double, rounded to float), as many as the
// weight's input features.
#include "fuzz_common.hpp"

#include <common/imatrix.hpp>

#include <cmath>
#include <set>

namespace {

/// Input features of the stories260K weights (negative: no such weight).
std::int64_t stories_in_features(const std::string& hf) {
    auto has = [&](const char* s) { return hf.find(s) != std::string::npos; };
    if (hf == "lm_head.weight") return 64;
    const std::string prefix = "model.layers.";
    if (hf.rfind(prefix, 0) != 0) return -1;
    const char c = hf[prefix.size()];
    if (c < '0' || c > '4' || hf[prefix.size() + 1] != '.') return -1;
    if (has(".mlp.down_proj.weight")) return 172;
    return has(".self_attn.") || has(".mlp.") ? 64 : -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qamw::tools;
    imatrix_data d;
    try {
        d = parse_imatrix(data, size, "fuzz input");
    } catch (const qamw::error&) {
        return 0;
    }
    QAMW_FUZZ_CHECK(!d.entries.empty());
    std::set<std::string> names;
    for (const imatrix_entry& e : d.entries) {
        QAMW_FUZZ_CHECK(!e.name.empty() && e.name.find('\0') == std::string::npos && names.insert(e.name).second);
        QAMW_FUZZ_CHECK(e.ncall >= 1 && !e.values.empty());
        for (float v : e.values) QAMW_FUZZ_CHECK(std::isfinite(v) && v >= 0);
    }
    std::vector<imatrix_stats> stats;
    try {
        stats = imatrix_to_stats(d, "fuzz input", stories_in_features);
    } catch (const qamw::error&) {
        return 0;
    }
    QAMW_FUZZ_CHECK(stats.size() == d.entries.size());
    for (std::size_t i = 0; i < stats.size(); ++i) {
        const imatrix_entry& e = d.entries[i];
        const imatrix_stats& s = stats[i];
        QAMW_FUZZ_CHECK(std::int64_t(s.mean_sq.size()) == stories_in_features(s.weight));
        QAMW_FUZZ_CHECK(s.mean_abs.size() == s.mean_sq.size() && s.chunks == e.ncall);
        for (std::size_t j = 0; j < s.mean_sq.size(); ++j) {
            QAMW_FUZZ_CHECK(s.mean_sq[j] == float(double(e.values[j]) / double(e.ncall)));
            QAMW_FUZZ_CHECK(s.mean_abs[j] == float(std::sqrt(double(s.mean_sq[j]))));
        }
    }
    return 0;
}
