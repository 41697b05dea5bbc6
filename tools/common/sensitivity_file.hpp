// tools/common/sensitivity_file.hpp — the sensitivity table of tools/common/sensitivity.hpp and its cache file
// (`qamw quantize --sensitivity FILE`, docs/ALLOCATION.md): JSON, "format": "qamw-sensitivity", "version": 2, holding
// the measurement's inputs (calibration tokens hash, n_ctx, windows, the reference k's, block, seed, statistics file
// hash), the AWQ α per group and, per tensor, rows, cols, scaled, kld and sensitivity at each reference k, and
// distortion[9] (k = 4 … 12). Parsing checks structure and numbers (any file, hostile ones included, gives a table or a
// qamw::error naming the file; a version-1 file, which held one reference k, is refused: measure it again); whether a
// table fits a run is sensitivity.hpp's check_sensitivity. The two-reference model is sensitivity_table::sigma.
#pragma once

#include "common/allocation.hpp"
#include "common/temp_registry.hpp"

#include <qamw/container.hpp>
#include <qamw/detail/hash.hpp>
#include <qamw/detail/json.hpp>
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/mapped_file.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace qamw::tools {

struct tensor_sensitivity {
    std::string name;
    std::int64_t rows = 0, cols = 0;
    bool scaled = false;                              ///< carries activation-aware scales (its group's α > 0)
    std::vector<double> kld;           ///< measured KLD with this tensor alone at each reference k (table order)
    std::vector<double> sensitivity;   ///< σ at each reference k: kld / D(k_ref)
    std::array<double, alloc_choices> distortion{};   ///< D(k) for k = 4 … 12
    double d(int k) const { return distortion[std::size_t(k - min_bits)]; }
};

struct sensitivity_table {
    std::vector<int> reference_bits{6, 8};  ///< the reference k's, increasing
    std::int64_t n_ctx = 512, windows = 8;
    int block = 256;
    std::uint64_t seed = 0;
    std::string calib_hash;   ///< FNV-1a 64 (hex) of the calibration token file's bytes
    std::string stats_hash;   ///< FNV-1a 64 (hex) of the --act-stats file's bytes; empty: no statistics
    std::vector<std::pair<std::string, double>> alphas;  ///< AWQ group key → α searched at the last reference k
    std::vector<tensor_sensitivity> tensors;
    double seconds = 0;       ///< wall time of the measurement (reported, not stored), and of its parts:
    double seconds_awq = 0, seconds_distortion = 0, seconds_forward = 0;  ///< α search, encodes, forward passes

    /// σ_t(k): the measured σ at a reference k; elsewhere a power law in D through the two nearest references a < b
    /// (the enclosing pair, or the first or last two outside them): log σ linear in log D, i.e. KLD_t ∝ D_t^(1+β) with
    /// β = log(σ_a/σ_b) / log(D_a/D_b) (β = 0: the quadratic model). With one reference, a σ of 0, or D not falling
    /// strictly from a to b, the σ of the nearest reference.
    double sigma(const tensor_sensitivity& t, int k) const {
        const std::vector<int>& r = reference_bits;
        std::size_t near = 0;
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (r[i] == k) return t.sensitivity[i];
            if (std::abs(r[i] - k) < std::abs(r[near] - k)) near = i;
        }
        if (r.size() < 2) return t.sensitivity[near];
        std::size_t a = 0;
        while (a + 2 < r.size() && r[a + 1] < k) ++a;  // the pair (a, a + 1) encloses k, or is the first or last pair
        const double sa = t.sensitivity[a], sb = t.sensitivity[a + 1], da = t.d(r[a]), db = t.d(r[a + 1]), dk = t.d(k);
        if (!(sa > 0 && sb > 0 && da > db && db > 0 && dk > 0)) return t.sensitivity[near];
        return sa * std::exp(std::log(sb / sa) * std::log(da / dk) / std::log(da / db));
    }
    /// The predicted output KLD of tensor t coded at k: σ_t(k) · D_t(k).
    double predicted(const tensor_sensitivity& t, int k) const { return sigma(t, k) * t.d(k); }
};

/// FNV-1a 64 of a file's bytes, as 16 lowercase hex digits.
inline std::string file_hash(const std::string& path) {
    io::mapped_file f(path);
    return qamw::detail::hex64(qamw::detail::fnv1a64(f.data(), f.size()));
}

inline io::json to_json(const sensitivity_table& s) {
    io::json j = io::json::object();
    j.set("format", "qamw-sensitivity");
    j.set("version", 2);
    io::json& refs = j.set("reference_bits", io::json::array());
    for (int k : s.reference_bits) refs.push_back(k);
    j.set("n_ctx", s.n_ctx);
    j.set("windows", s.windows);
    j.set("block", s.block);
    j.set("seed", qamw::detail::hex64(s.seed));
    j.set("calibration_fnv1a64", s.calib_hash);
    j.set("act_stats_fnv1a64", s.stats_hash.empty() ? io::json(nullptr) : io::json(s.stats_hash));
    io::json& groups = j.set("awq_alpha", io::json::object());
    for (const auto& [key, alpha] : s.alphas) groups.set(key, alpha);
    io::json& ts = j.set("tensors", io::json::array());
    for (const auto& t : s.tensors) {
        io::json& r = ts.push_back(io::json::object());
        r.set("name", t.name);
        r.set("rows", t.rows);
        r.set("cols", t.cols);
        r.set("scaled", t.scaled);
        io::json& kld = r.set("kld", io::json::array());
        for (double v : t.kld) kld.push_back(v);
        io::json& sens = r.set("sensitivity", io::json::array());
        for (double v : t.sensitivity) sens.push_back(v);
        io::json& d = r.set("distortion", io::json::array());
        for (double v : t.distortion) d.push_back(v);
    }
    return j;
}

/// Parses a cache file's text; `what` names it in errors. Checks its structure and numbers, not that it matches a run.
inline sensitivity_table parse_sensitivity(const std::string& text, const std::string& what) {
    auto bad = [](const std::string& m) { return error(errc::format, m); };
    try {
        const io::json j = io::json::parse(text, "JSON");
        if (!j.is_object()) throw bad("not a JSON object");
        const io::json* f = j.find("format");
        if (!f || !f->is_string() || f->as_string() != "qamw-sensitivity")
            throw bad("not a qamw sensitivity file (\"format\" is not \"qamw-sensitivity\")");
        if (j.at("version").as_int() != 2)
            throw error(errc::unsupported, "sensitivity file version " + j.at("version").dump() +
                                               " (this build reads 2, which measures σ at several reference k): " +
                                               "measure it again (remove the file)");
        sensitivity_table s;
        s.reference_bits.clear();
        for (const io::json& r : j.at("reference_bits").items()) {
            const std::int64_t k = r.as_int();
            if (k < min_bits || k > max_bits) throw bad("reference_bits outside [4, 12]");
            if (!s.reference_bits.empty() && k <= s.reference_bits.back()) throw bad("reference_bits not increasing");
            s.reference_bits.push_back(int(k));
        }
        if (s.reference_bits.empty()) throw bad("no reference_bits");
        const std::int64_t block = j.at("block").as_int();
        if (block < 32 || block > 4096) throw bad("block outside [32, 4096]");
        s.block = int(block);
        s.n_ctx = j.at("n_ctx").as_int();
        s.windows = j.at("windows").as_int();
        if (s.n_ctx < 2 || s.windows < 1) throw bad("n_ctx must be >= 2 and windows >= 1");
        const std::string& seed = j.at("seed").as_string();
        char* end = nullptr;
        s.seed = std::strtoull(seed.c_str(), &end, 16);
        if (seed.size() != 16 || end != seed.c_str() + 16) throw bad("seed is not 16 hex digits");
        s.calib_hash = j.at("calibration_fnv1a64").as_string();
        if (!j.at("act_stats_fnv1a64").is_null()) s.stats_hash = j.at("act_stats_fnv1a64").as_string();
        for (const auto& [key, alpha] : j.at("awq_alpha").members()) {
            if (!(alpha.as_double() >= 0 && alpha.as_double() <= 1)) throw bad("awq_alpha of '" + key + "' outside [0, 1]");
            s.alphas.emplace_back(key, alpha.as_double());
        }
        for (const io::json& r : j.at("tensors").items()) {
            tensor_sensitivity t;
            t.name = r.at("name").as_string();
            t.rows = r.at("rows").as_int();
            t.cols = r.at("cols").as_int();
            t.scaled = r.at("scaled").as_bool();
            for (const io::json& v : r.at("kld").items()) t.kld.push_back(v.as_double());
            for (const io::json& v : r.at("sensitivity").items()) t.sensitivity.push_back(v.as_double());
            if (t.kld.size() != s.reference_bits.size() || t.sensitivity.size() != s.reference_bits.size())
                throw bad("tensor '" + t.name + "': kld and sensitivity must hold one value per reference k (" +
                          std::to_string(s.reference_bits.size()) + ")");
            const auto& d = r.at("distortion").items();
            if (d.size() != std::size_t(alloc_choices))
                throw bad("tensor '" + t.name + "': distortion must hold 9 values (k = 4 … 12)");
            for (std::size_t c = 0; c < d.size(); ++c) t.distortion[c] = d[c].as_double();
            bool finite = true;
            for (double v : t.sensitivity) finite = finite && std::isfinite(v) && v >= 0;
            for (double v : t.kld) finite = finite && std::isfinite(v);
            for (double v : t.distortion) finite = finite && std::isfinite(v) && v >= 0;
            if (!finite) throw bad("tensor '" + t.name + "': a sensitivity or distortion that is negative, NaN or infinite");
            for (int k = min_bits; k <= max_bits; ++k)
                if (!std::isfinite(s.predicted(t, k)))
                    throw bad("tensor '" + t.name + "': its predicted loss at k = " + std::to_string(k) + " overflows");
            if (t.rows < 1 || t.cols < 1) throw bad("tensor '" + t.name + "': rows and cols must be positive");
            s.tensors.push_back(std::move(t));
        }
        if (s.tensors.empty()) throw bad("no tensors");
        return s;
    } catch (const error& e) {
        throw error(e.code(), what + ": " + e.what());
    }
}

inline void write_sensitivity(const std::string& path, const sensitivity_table& s) {
    const std::string text = to_json(s).dump(1) + "\n";
    io::atomic_file f(path, temp_registry::file_hooks());
    f.write(text.data(), text.size());
    f.commit();
}

inline sensitivity_table read_sensitivity(const std::string& path) {
    io::mapped_file f(path);
    return parse_sensitivity(std::string(reinterpret_cast<const char*>(f.data()), f.size()), path);
}

}  // namespace qamw::tools
