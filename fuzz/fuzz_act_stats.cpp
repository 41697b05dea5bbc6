// fuzz/fuzz_act_stats.cpp — eval::read_act_stats (the file `qamw stats` writes, tools/eval/act_stats_file.hpp) on
// arbitrary bytes.
//
// Invariants checked on accepted files: at least one layer; every layer has equally long, non-empty, finite,
// non-negative mean_abs and mean_sq with mean_abs² ≤ mean_sq·(1 + 1e-5), a positive token count, and a name that
// find() returns; writing the result and reading it back gives the same statistics bit for bit.
#include "fuzz_common.hpp"

#include <eval/act_stats_file.hpp>

#include <cmath>
#include <cstring>

namespace {

bool same(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), 4 * a.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qamw::eval;
    const std::string path = qamw_fuzz::write_scratch("fuzz.act-stats.safetensors", data, size);
    act_stats s;
    try {
        s = read_act_stats(path);
    } catch (const qamw::error&) {
        return 0;
    }
    QAMW_FUZZ_CHECK(!s.layers.empty());
    for (const auto& [name, c] : s.layers) {
        QAMW_FUZZ_CHECK(s.find(name) != nullptr);
        QAMW_FUZZ_CHECK(!c.mean_abs.empty() && c.mean_abs.size() == c.mean_sq.size() && c.tokens > 0);
        for (std::size_t j = 0; j < c.mean_abs.size(); ++j) {
            QAMW_FUZZ_CHECK(std::isfinite(c.mean_abs[j]) && std::isfinite(c.mean_sq[j]));
            QAMW_FUZZ_CHECK(c.mean_abs[j] >= 0 && c.mean_sq[j] >= 0);
            QAMW_FUZZ_CHECK(double(c.mean_abs[j]) * c.mean_abs[j] <= double(c.mean_sq[j]) * (1 + 1e-5) + 1e-30);
        }
    }
    const std::string copy = path + ".rewritten";
    write_act_stats(copy, s);
    const act_stats back = read_act_stats(copy);
    QAMW_FUZZ_CHECK(back.layers.size() == s.layers.size());
    for (std::size_t i = 0; i < s.layers.size(); ++i) {
        QAMW_FUZZ_CHECK(back.layers[i].first == s.layers[i].first);
        QAMW_FUZZ_CHECK(same(back.layers[i].second.mean_abs, s.layers[i].second.mean_abs));
        QAMW_FUZZ_CHECK(same(back.layers[i].second.mean_sq, s.layers[i].second.mean_sq));
        QAMW_FUZZ_CHECK(back.layers[i].second.tokens == s.layers[i].second.tokens);
    }
    return 0;
}
