// tools/common/allocation_plan.hpp — `qamw quantize --bpw R` with a per-tensor k: the sensitivity table (measured on
// calibration tokens, or read back from its cache file), the knapsack choice of k per tensor
// (tools/common/allocation.hpp), and the quantize_options that carry it out (k, activation-aware scales of each group's
// α searched again at its members' allocated k, and per-tensor metadata saying why each k was chosen).
#pragma once

#include "common/allocation.hpp"
#include "common/sensitivity.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace qamw::tools {

struct allocation_plan {
    sensitivity_table table;
    allocation result;
    double rate = 0;               ///< the budget R in bits per weight
    bool cached = false;           ///< the table was read from the cache file
    double allocate_seconds = 0;   ///< wall time of the knapsack
    std::map<std::string, int> bits;                       ///< tensor → k
    std::map<std::string, std::vector<float>> scales;      ///< tensor → activation-aware scales (absent: none)
    std::vector<std::pair<std::string, double>> alphas;    ///< AWQ group key → α of `scales` (at the allocated k)
    double awq_seconds = 0;        ///< wall time of the α search at the allocated k
    std::map<std::string, std::size_t> index;              ///< tensor → its row in table.tensors
};

/// Measures (or reads from `cache`, when it names an existing file; writes it there after measuring) the sensitivity
/// table for `ck` at `model_path`, then allocates k per tensor for `rate` bits per weight. With `alpha_at_k`, each
/// scaled group's α is then searched again at its members' allocated k; without, the table's α are used.
inline allocation_plan plan_allocation(const std::string& model_path, const io::checkpoint& ck, double rate,
                                       const std::vector<std::int32_t>& calib, const std::string& calib_hash,
                                       const std::string& cache, const sensitivity_options& so, bool alpha_at_k) {
    allocation_plan plan;
    plan.rate = rate;
    if (!cache.empty() && std::filesystem::exists(cache)) {
        plan.table = read_sensitivity(cache);
        check_sensitivity(plan.table, cache, ck, so.select, sensitivity_inputs(so, calib_hash));
        plan.cached = true;
    } else {
        plan.table = measure_sensitivity(model_path, calib, calib_hash, so);
        if (!cache.empty()) write_sensitivity(cache, plan.table);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<alloc_item> items = allocation_items(plan.table);
    plan.result = allocate_bits(items, budget_bits(items, rate));
    plan.allocate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (std::size_t i = 0; i < items.size(); ++i) plan.bits[items[i].name] = plan.result.k[i], plan.index[items[i].name] = i;

    // Which tensors carry scales: those of groups whose α stored with the table (searched at the last reference k) is
    // positive; the knapsack counted their scales' bits.
    std::map<std::string, double> alpha(plan.table.alphas.begin(), plan.table.alphas.end());
    std::map<std::string, std::vector<std::string>> members;  // scaled group → its tensors
    for (const auto& t : plan.table.tensors) {
        bool scaled = false;
        if (so.stats && so.stats->by_weight.count(t.name)) {
            const std::string key = awq_group_key(t.name);
            auto a = alpha.find(key);
            if (a == alpha.end()) throw error(errc::format, "--sensitivity: no awq_alpha for group '" + key + "'");
            scaled = a->second > 0;
            if (scaled) members[key].push_back(t.name);
        }
        if (t.scaled != scaled)
            throw error(errc::format, "--sensitivity: tensor '" + t.name + "' is marked scaled = " +
                                          (t.scaled ? "true" : "false") + ", which its group's awq_alpha contradicts");
    }

    // α of each scaled group searched again with its members at their allocated k (the uniform rows search α at their
    // own k; docs/ALLOCATION.md), among α > 0, so that every tensor keeps the scales whose bits the knapsack counted. A
    // group whose members all sit at the k the table's α was searched at keeps that α (the same search).
    const int table_k = plan.table.reference_bits.back();
    auto moved = [&](const std::string& key) {
        auto m = members.find(key);
        if (m == members.end()) return false;
        for (const auto& n : m->second)
            if (plan.bits.at(n) != table_k) return true;
        return false;
    };
    const auto t1 = std::chrono::steady_clock::now();
    std::map<std::string, double> searched;
    if (so.stats && alpha_at_k) {
        quantize_options q;
        q.codec = so.codec;
        q.select = so.select;
        q.threads = so.threads;
        q.bits = [&plan, &so](const std::string& name) {
            auto it = plan.bits.find(name);
            return it == plan.bits.end() ? so.codec.bits : it->second;
        };
        for (const auto& g : plan_awq(ck, q, *so.stats, {}, moved).groups) searched[g.key] = g.best_scaled_alpha();
    }
    plan.awq_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    for (const auto& [key, table_alpha] : plan.table.alphas) {
        auto m = members.find(key);
        const double a = m == members.end() ? 0.0 : searched.count(key) ? searched.at(key) : table_alpha;
        plan.alphas.emplace_back(key, a);
        if (a <= 0) continue;
        const std::vector<float> s = awq_scales(so.stats->by_weight.at(m->second[0]).first, a);
        for (const auto& n : m->second) plan.scales[n] = s;
    }
    return plan;
}

/// Makes `opt` quantize as planned: k and scales per tensor, and metadata "allocation" on each quantized tensor.
inline void apply_allocation(const allocation_plan& plan, quantize_options& opt) {
    opt.bits = [&plan](const std::string& name) { return plan.bits.at(name); };
    opt.scales = [&plan](const std::string& name) -> const std::vector<float>* {
        auto it = plan.scales.find(name);
        return it == plan.scales.end() ? nullptr : &it->second;
    };
    opt.metadata = [&plan](const std::string& name) {
        const tensor_sensitivity& t = plan.table.tensors[plan.index.at(name)];
        const int k = plan.bits.at(name);
        io::json a = io::json::object();
        a.set("budget_bpw", plan.rate);
        a.set("sensitivity", plan.table.sigma(t, k));
        io::json& kld = a.set("kld_at_reference_k", io::json::array());
        for (double v : t.kld) kld.push_back(v);
        io::json& refs = a.set("reference_k", io::json::array());
        for (int r : plan.table.reference_bits) refs.push_back(r);
        a.set("distortion", t.d(k));
        a.set("predicted_kld", plan.table.predicted(t, k));
        io::json m = io::json::object();
        m.set("allocation", std::move(a));
        return m;
    };
}

}  // namespace qamw::tools
