// fuzz/fuzz_sensitivity.cpp — tools::parse_sensitivity (the `qamw quantize --sensitivity FILE` cache,
// tools/common/sensitivity_file.hpp) on arbitrary bytes.
//
// Invariants checked on accepted files: at least one tensor; reference k's increasing in [4, 12]; per tensor one kld
// and one sensitivity per reference k; every sensitivity and distortion finite and non-negative (so is every predicted
// loss σ(k) · D(k), k = 4 … 12); rows and cols positive; writing the table and parsing it back gives the same JSON.
#include "fuzz_common.hpp"

#include <common/sensitivity_file.hpp>

#include <cmath>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qamw::tools;
    const std::string text(reinterpret_cast<const char*>(data), size);
    sensitivity_table s;
    try {
        s = parse_sensitivity(text, "fuzz input");
    } catch (const qamw::error&) {
        return 0;
    }
    QAMW_FUZZ_CHECK(!s.tensors.empty());
    QAMW_FUZZ_CHECK(!s.reference_bits.empty());
    for (std::size_t i = 0; i < s.reference_bits.size(); ++i)
        QAMW_FUZZ_CHECK(s.reference_bits[i] >= qamw::min_bits && s.reference_bits[i] <= qamw::max_bits &&
                        (i == 0 || s.reference_bits[i] > s.reference_bits[i - 1]));
    for (const auto& t : s.tensors) {
        QAMW_FUZZ_CHECK(t.rows > 0 && t.cols > 0);
        QAMW_FUZZ_CHECK(t.kld.size() == s.reference_bits.size() && t.sensitivity.size() == s.reference_bits.size());
        for (double v : t.sensitivity) QAMW_FUZZ_CHECK(std::isfinite(v) && v >= 0);
        for (double d : t.distortion) QAMW_FUZZ_CHECK(std::isfinite(d) && d >= 0);
        for (int k = qamw::min_bits; k <= qamw::max_bits; ++k) {
            const double p = s.predicted(t, k);
            QAMW_FUZZ_CHECK(std::isfinite(p) && p >= 0);
        }
    }
    const std::string once = to_json(s).dump();
    QAMW_FUZZ_CHECK(to_json(parse_sensitivity(once, "rewritten")).dump() == once);
    return 0;
}
