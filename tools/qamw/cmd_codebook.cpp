// tools/qamw/cmd_codebook.cpp — `qamw codebook`: the quality of a shipped codebook, measured by Monte Carlo.
#include "commands.hpp"
#include "baselines/polar.hpp"
#include "baselines/scalar_lloyd.hpp"
#include "common/codebooks.hpp"
#include "common/metrics.hpp"

#include <qamw/codec.hpp>
#include "common/json_out.hpp"

#include <cmath>
#include <cstdio>

namespace qamw::cli {

const command_spec codebook_spec{
    "qamw codebook [--bits K] [--codebook lm2d|d8] [--samples N] [--json]",
    "Measures the MSE per coordinate of each shipped codebook (2D Lloyd-Max lm2d, k = 4..12; D8-symmetric d8,\n"
    "k = 9..11) on N fixed-seed N(0, I2) samples and its ratio to the distortion-rate bound 2^-k; prints the codebook's\n"
    "checksum and search cost. Without --bits, every k; without --codebook, both families.",
    {{"bits", "K", "bits per pair, 4..12 (default: all)", integer(min_bits, max_bits)},
     {"codebook", "FAMILY", "lm2d or d8 (default: both)"},
     {"samples", "N", "Monte-Carlo samples (default 10000000)", integer(1, 10'000'000'000)},
     {"json", "", "print one JSON object"}},
    0,
    0};


int run_codebook(const args& a) {
    long long samples = a.get_int("samples", 10'000'000);
    if (samples < 1) throw error(errc::invalid_argument, "--samples must be >= 1");
    int k0 = min_bits, k1 = max_bits;
    if (a.has("bits")) k0 = k1 = static_cast<int>(a.get_int("bits", 11));
    std::vector<codebook_family> families = {codebook_family::lm2d, codebook_family::d8};
    if (a.has("codebook")) families = {parse_codebook_family(a.get("codebook"), "--codebook")};
    if (a.has("bits") && families.size() == 1 && !family_has_bits(families[0], k0))
        throw error(errc::invalid_argument, "--codebook d8: codebook d8 exists for k = 9, 10, 11 (not --bits " +
                                                std::to_string(k0) + ")");
    tools::json_out out = tools::json_out::array();
    if (!a.has("json"))
        std::printf("%-8s %3s %6s %6s %12s %10s %18s %11s\n", "codebook", "k", "points", "bpw", "MSE/coord", "MSE/2^-k",
                    "checksum", "candidates");
    for (codebook_family family : families)
    for (int k = k0; k <= k1; ++k) {
        if (!family_has_bits(family, k)) continue;
        const codebook& cb = tools::codebook_for(k, family);
        double mse = tools::codebook_mse(cb, static_cast<std::size_t>(samples), 0x5eed + k), ratio = mse / std::ldexp(1.0, -k);
        char checksum[32];
        std::snprintf(checksum, sizeof checksum, "%016llx", static_cast<unsigned long long>(cb.checksum()));
        if (a.has("json")) {
            tools::json_out row = tools::json_out::object();
            row["codebook"] = family_name(family);
            row["id"] = cb.id();
            row["bits"] = k;
            row["points"] = static_cast<std::int64_t>(cb.size());
            row["bpw_codes"] = k / 2.0;
            row["mse_per_coordinate"] = mse;
            row["ratio_to_bound"] = ratio;
            row["checksum"] = std::string(checksum);
            row["mean_candidates"] = cb.index().mean_candidates();
            row["samples"] = static_cast<std::int64_t>(samples);
            // the baselines at the same rate, exact distortion per coordinate on N(0, I2): polar coding of the pair
            // (tools/baselines/polar.hpp) and scalar Lloyd-Max at k/2 bits per coordinate (even k only)
            row["polar_ratio_to_bound"] = baselines::polar(k).mse() / std::ldexp(1.0, -k);
            row["scalar_ratio_to_bound"] =
                k % 2 == 0 ? tools::json_out(baselines::scalar_lloyd(k / 2).mse() / std::ldexp(1.0, -k)) : tools::json_out();
            out.push_back(row);
        } else {
            std::printf("%-8s %3d %6zu %6.1f %12.6g %10.4f %18s %11.2f\n", family_name(family), k, cb.size(), k / 2.0, mse,
                        ratio, checksum,
                        cb.index().mean_candidates());
        }
    }
    if (a.has("json")) std::printf("%s\n", tools::dump_json(out).c_str());
    return 0;
}

}  // namespace qamw::cli
