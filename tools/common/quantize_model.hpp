// tools/common/quantize_model.hpp — checkpoint → container, streaming tensor by tensor (shared by `qamw quantize` and
// `qamw demo`). Peak memory: one tensor as f32 plus its decoded copy and its codes, beside the mapped input.
#pragma once

#include "common/awq.hpp"
#include "common/feedback.hpp"
#include "common/imatrix.hpp"
#include "common/metrics.hpp"
#include "common/selection.hpp"
#include "common/temp_registry.hpp"
#include "eval/act_stats_file.hpp"

#include <qamw/container.hpp>
#include <qamw/io/safetensors.hpp>
#include "common/parallel.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <iterator>
#include <string>
#include <vector>

namespace qamw::tools {

/// Per-channel scales of one weight (from activation statistics), or nullptr for none.
using scale_source = std::function<const std::vector<float>*(const std::string& name)>;

struct quantize_options {
    params codec;
    int threads = 0;      ///< worker threads (0 = all cores); the output is the same bytes for every count
    selection select;
    scale_source scales;  ///< empty: no activation-aware scaling
    /// Error feedback (tools/common/feedback.hpp): E[x xᵀ] (cols × cols) of a weight's input; throws when absent.
    /// Empty: nearest rounding (qamw::encode).
    std::function<std::vector<float>(const std::string& name, std::int64_t cols)> second_moment;
    feedback_options feedback;
    /// With second_moment set: search the AWQ α of each group by the feedback loss under E[x xᵀ] (α on 0, step, …, 1)
    /// instead of the diagonal proxy through nearest rounding. 0: off.
    double feedback_alpha_step = 0;
    /// Per-tensor k (bit allocation, tools/common/allocation.hpp); empty: codec.bits for every tensor.
    std::function<int(const std::string& name)> bits;
    /// Informational metadata keys stored with each quantized tensor (why its k was chosen); empty: none.
    std::function<io::json(const std::string& name)> metadata;

    /// The codec parameters of one tensor: `codec` with its allocated k.
    params codec_for(const std::string& name) const {
        params p = codec;
        if (bits) p.bits = bits(name);
        return p;
    }
};

/// Whether `quantize_checkpoint` quantizes tensor `t` named `name`: a selected 2-D float tensor with columns.
inline bool is_quantized_tensor(const io::tensor_info& t, const std::string& name, const selection& select) {
    const bool floaty = t.type == io::dtype::f32 || t.type == io::dtype::f16 || t.type == io::dtype::bf16;
    return floaty && select(name, t.shape) && t.shape[1] > 0;
}

struct tensor_report {
    std::string name;
    std::vector<std::int64_t> shape;
    bool quantized = false;
    double bpw = 0, rel_mse = 0, seconds = 0;
    std::size_t bytes_in = 0, bytes_out = 0;
    bool feedback = false;
    feedback_report proxy;  ///< output-error proxy under E[x xᵀ] (feedback only)
};

struct quantize_report {
    std::vector<tensor_report> tensors;
    std::size_t input_bytes = 0, output_bytes = 0, quantized_weights = 0, quantized_bytes = 0, total_elements = 0;
    double seconds = 0;
    double bpw_quantized() const { return quantized_weights ? 8.0 * double(quantized_bytes) / double(quantized_weights) : 0; }
    double bpw_file() const { return total_elements ? 8.0 * double(output_bytes) / double(total_elements) : 0; }
};

/// Files of a HF checkpoint directory that a container embeds so that it is self-sufficient.
inline std::vector<std::string> sidecar_files() {
    return {"config.json",           "generation_config.json", "tokenizer.model", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json"};
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw error(errc::io, "cannot read '" + path + "'");
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

/// Quantizes the selected tensors of `ck` into a container at `out`. `progress(done, total, bytes, name)` is called
/// after each tensor.
inline quantize_report quantize_checkpoint(
    const io::checkpoint& ck, const std::string& out, const quantize_options& opt,
    const std::function<void(std::size_t, std::size_t, std::size_t, const std::string&)>& progress = {}) {
    auto t_start = std::chrono::steady_clock::now();
    quantize_report rep;
    container_writer w(out, temp_registry::file_hooks());
    const std::vector<std::string> names = ck.names();
    std::vector<bool> quantize(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        const io::tensor_info* t = ck.find(names[i]);
        quantize[i] = is_quantized_tensor(*t, names[i], opt.select);
        if (quantize[i]) {
            const std::vector<float>* s = opt.scales ? opt.scales(names[i]) : nullptr;
            w.declare_quantized(names[i], t->shape[0], t->shape[1], opt.codec_for(names[i]), s != nullptr, t->type,
                                opt.metadata ? opt.metadata(names[i]) : io::json::object());
        } else {
            w.declare_plain(names[i], t->type, t->shape);
        }
    }
    for (const std::string& f : sidecar_files()) {
        std::string p = (std::filesystem::path(ck.directory()) / f).string();
        if (std::filesystem::exists(p)) w.embed_file(f, read_file(p));
    }
    w.begin();
    std::size_t done_bytes = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto t0 = std::chrono::steady_clock::now();
        const io::tensor_view v = ck.view(names[i]);
        tensor_report r;
        r.name = names[i];
        r.shape = v.info->shape;
        r.bytes_in = v.nbytes;
        rep.total_elements += static_cast<std::size_t>(v.info->numel());
        if (quantize[i]) {
            std::vector<float> wf = io::to_f32(v);
            const std::vector<float>* s = opt.scales ? opt.scales(names[i]) : nullptr;
            quantized_tensor q;
            try {
                if (opt.second_moment) {
                    const std::vector<float> M = opt.second_moment(names[i], r.shape[1]);
                    feedback_options fo = opt.feedback;
                    fo.threads = opt.threads;
                    q = encode_feedback(wf.data(), r.shape[0], r.shape[1], opt.codec_for(names[i]), s ? s->data() : nullptr,
                                        M.data(), fo, &r.proxy);
                    r.feedback = true;
                } else {
                    const params pc = opt.codec_for(names[i]);
                    q = encode(codebook_for(pc.bits, pc.family), wf.data(), r.shape[0], r.shape[1], pc, s ? s->data() : nullptr,
                               on_threads{opt.threads});
                }
            } catch (const error& e) {
                throw error(e.code(), "tensor '" + names[i] + "': " + e.what());
            }
            w.write_quantized(names[i], q);
            std::vector<float> d = decode(q, on_threads{opt.threads});
            r.quantized = true;
            r.rel_mse = relative_mse(wf, d);
            r.bytes_out = q.stored_bytes();
            r.bpw = q.bits_per_weight();
            rep.quantized_weights += wf.size();
            rep.quantized_bytes += r.bytes_out;
        } else {
            w.write_plain(names[i], v.data, v.nbytes);
            r.bytes_out = v.nbytes;
        }
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rep.input_bytes += r.bytes_in;
        done_bytes += r.bytes_in;
        rep.tensors.push_back(std::move(r));
        if (progress) progress(i + 1, names.size(), done_bytes, names[i]);
    }
    w.commit();
    // After the commit nothing may fail: the size is taken from what was written if the file cannot be stat'ed.
    std::error_code ec;
    const auto size = std::filesystem::file_size(out, ec);
    rep.output_bytes = ec ? 0 : static_cast<std::size_t>(size);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return rep;
}

/// Per-input-channel activation statistics by weight name: from `qamw stats` (mean|x| and E[x²]) or from a llama.cpp
/// imatrix (E[x²] only; √E[x²] stands in for mean|x|).
struct activation_stats {
    std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> by_weight;  ///< name → (mean_abs, mean_sq)
    std::string source;  ///< the file they came from (error messages)

    static activation_stats from_act_stats(const std::string& path) {
        activation_stats a;
        a.source = path;
        for (auto& [name, st] : eval::read_act_stats(path).layers) a.by_weight[name] = {st.mean_abs, st.mean_sq};
        return a;
    }
    static activation_stats from_imatrix(const std::string& path, const io::checkpoint& ck) {
        activation_stats a;
        a.source = path;
        auto cols = [&](const std::string& name) -> std::int64_t {
            const io::tensor_info* t = ck.find(name);
            return t && t->shape.size() == 2 ? t->shape[1] : -1;
        };
        for (auto& st : imatrix_to_stats(read_imatrix(path), path, cols)) a.by_weight[st.weight] = {st.mean_abs, st.mean_sq};
        return a;
    }
};

/// The activation-aware scales chosen for a model: per weight, and the search result per group of weights that read
/// the same input (q/k/v, gate/up).
struct awq_plan {
    std::map<std::string, std::vector<float>> scales;  ///< weight name → s (absent when the best α is 0)
    struct group {
        std::string key;
        std::vector<std::string> members;
        double alpha = 0, err_plain = 0, err_best = 0;
        std::vector<std::pair<double, double>> curve;  ///< (α, err) for every α evaluated, in grid order
        /// The α > 0 of least error (the smaller winning a tie): the best α when plain coding must not win.
        double best_scaled_alpha() const {
            double a = 0, e = INFINITY;
            for (const auto& [ca, ce] : curve)
                if (ca > 0 && ce < e) a = ca, e = ce;
            return a;
        }
    };
    std::vector<group> groups;
};

/// Searches α per group of selected weights (tools/common/awq.hpp), each member coded at its own k (opt.codec_for: the
/// allocated k under a per-tensor allocation, opt.bits). Weights without statistics are left unscaled. Memory: one
/// group's weights at a time. `search(key)` false skips a group (empty: every group is searched).
inline awq_plan plan_awq(const io::checkpoint& ck, const quantize_options& opt, const activation_stats& stats,
                         const std::function<void(std::size_t, std::size_t, const std::string&)>& progress = {},
                         const std::function<bool(const std::string& key)>& search = {}) {
    // Statistics must describe this model: every entry names a 2-D weight of the checkpoint with as many input
    // features as it has channels, and at least one selected weight has statistics. Anything else (statistics of
    // another model, renamed layers) would silently skip the scaling, so it is refused.
    std::size_t unmatched = 0;
    std::string first_unmatched;
    for (const auto& [name, st] : stats.by_weight) {
        const io::tensor_info* t = ck.find(name);
        if (!t || t->shape.size() != 2) {
            if (unmatched++ == 0) first_unmatched = name;
            continue;
        }
        if (std::int64_t(st.first.size()) != t->shape[1])
            throw error(errc::format, stats.source + ": statistics of '" + name + "' have " +
                                          std::to_string(st.first.size()) + " channels, the weight has " +
                                          std::to_string(t->shape[1]) + " input features");
    }
    if (unmatched)
        throw error(errc::format, stats.source + ": " + std::to_string(unmatched) + " of " +
                                      std::to_string(stats.by_weight.size()) +
                                      " statistics name no 2-D weight of the checkpoint (first: '" + first_unmatched +
                                      "'); were they collected on another model?");
    std::map<std::string, std::vector<std::string>> members;
    std::vector<std::string> order;
    for (const std::string& name : ck.names()) {
        const io::tensor_info* t = ck.find(name);
        if (!opt.select(name, t->shape) || !stats.by_weight.count(name)) continue;
        std::string key = awq_group_key(name);
        if (!members.count(key)) order.push_back(key);
        members[key].push_back(name);
    }
    if (order.empty())
        throw error(errc::format, stats.source + ": no selected weight has statistics in this file");
    awq_plan plan;
    for (std::size_t g = 0; g < order.size(); ++g) {
        if (search && !search(order[g])) continue;
        const auto& names = members[order[g]];
        const auto& st = stats.by_weight.at(names[0]);
        std::vector<std::vector<float>> w;
        std::vector<const float*> ptrs;
        std::vector<std::int64_t> rows;
        std::vector<params> codecs;
        const std::int64_t cols = ck.find(names[0])->shape[1];
        for (const auto& n : names) {
            if (ck.find(n)->shape[1] != cols)
                throw error(errc::format, "tensors '" + names[0] + "' and '" + n + "' share an input but differ in width");
            w.push_back(io::to_f32(ck.view(n)));
            rows.push_back(ck.find(n)->shape[0]);
            codecs.push_back(opt.codec_for(n));
        }
        for (const auto& v : w) ptrs.push_back(v.data());
        awq_result r;
        try {
            if (opt.second_moment && opt.feedback_alpha_step > 0) {
                // err(α) = Σ_members the feedback loss E‖(W − Ŵ)x‖² under the full E[x xᵀ] (feedback.hpp)
                const std::vector<float> M = opt.second_moment(names[0], cols);
                feedback_options fo = opt.feedback;
                fo.measure_nearest = false;
                fo.threads = opt.threads;
                auto err = [&](const float* s) {
                    double e = 0;
                    for (std::size_t m = 0; m < ptrs.size(); ++m) {
                        feedback_report rep;
                        encode_feedback(ptrs[m], rows[m], cols, codecs[m], s, M.data(), fo, &rep);
                        e += rep.loss_feedback;
                    }
                    return e;
                };
                r.err_plain = r.err_best = err(nullptr);
                r.curve.emplace_back(0.0, r.err_plain);
                const int steps = int(std::lround(1.0 / opt.feedback_alpha_step));
                for (int k = 1; k <= steps; ++k) {
                    const double alpha = std::min(1.0, k * opt.feedback_alpha_step);
                    std::vector<float> sc = awq_scales(st.first, alpha);
                    const double e = err(sc.data());
                    r.curve.emplace_back(alpha, e);
                    if (e < r.err_best) r.err_best = e, r.alpha = alpha, r.scales = std::move(sc);
                }
            } else {
                r = awq_search(ptrs, rows, cols, st.first, st.second, codecs, opt.threads);
            }
        } catch (const error& e) {
            throw error(e.code(), "activation-aware search for '" + names[0] + "': " + e.what());
        }
        for (const auto& n : names)
            if (!r.scales.empty()) plan.scales[n] = r.scales;
        plan.groups.push_back({order[g], names, r.alpha, r.err_plain, r.err_best, std::move(r.curve)});
        if (progress) progress(g + 1, order.size(), order[g]);
    }
    return plan;
}

/// k for a --bpw value: 3.5 → 7, 4 → 8, 5.5 → 11 (twice the rate, which must be an integer in [4, 12]).
inline int bits_for_bpw(double bpw) {
    double k = 2 * bpw;
    if (k != std::floor(k) || k < min_bits || k > max_bits)
        throw error(errc::invalid_argument, "--bpw " + std::to_string(bpw) + ": expected 2.0, 2.5, ..., 6.0 (k = 2·bpw bits per pair)");
    return static_cast<int>(k);
}

}  // namespace qamw::tools
