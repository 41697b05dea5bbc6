// tools/qamw/cmd_quantize.cpp — `qamw quantize`: a Hugging Face checkpoint → one .qamw.safetensors container.
#include "commands.hpp"
#include "common/output_guard.hpp"
#include "common/quantize_model.hpp"
#include "common/allocation_plan.hpp"

#include "common/json_out.hpp"

#include <qamw/pipeline.hpp>

#include <cmath>
#include <cstdio>
#include <optional>

namespace qamw::cli {

const command_spec quantize_spec{
    "qamw quantize MODEL OUT [--bpw R [--allocate] --calib TOKENS [--sensitivity FILE] | --bits-per-pair K |\n"
    "              --pipeline SPEC] [--block B] [--codebook lm2d|d8]\n"
    "              [--act-stats FILE | --imatrix FILE] [--feedback [--damping L] [--feedback-alpha STEP]\n"
    "              [--feedback-refine N] [--no-act-order] [--no-norm-refit]] [--include RE] [--exclude RE]\n"
    "              [--threads N] [--json]",
    "Quantizes every 2-D linear weight of MODEL (a checkpoint directory, a .safetensors file or a sharded index; by\n"
    "default all *.weight matrices except embeddings and lm_head) and copies every other tensor unchanged into the\n"
    "container OUT (written to a temporary file, renamed on success). config.json and tokenizer files are embedded.\n"
    "With --act-stats (written by `qamw stats`) or --imatrix (llama.cpp's legacy imatrix.dat), each group of weights\n"
    "that reads one input (q/k/v, gate/up, o, down) gets activation-aware column scales s = mean|x|^alpha, alpha\n"
    "searched on 0, 0.05, ..., 1 to minimise sum_j E[x_j^2] ||W_:j - What_:j||^2 through the codec.\n"
    "With --feedback (needs --act-stats written with --second-moments), codes are chosen by error feedback under\n"
    "the input's E[x x^T] in the rotated domain and row norms are refit (tools/common/feedback.hpp); same format.\n"
    "With --bpw R where 2R is not an integer (or with --allocate), k is chosen per tensor to minimise the predicted\n"
    "KL divergence with the true bits per weight (codes + side information) <= R, from each tensor's sensitivity\n"
    "measured on the --calib tokens (tools/common/sensitivity.hpp, docs/ALLOCATION.md), cached in --sensitivity FILE.\n"
    "With --codebook d8, the codes index the D8-symmetric codebooks (k = 9, 10, 11, one k for every tensor).\n"
    "Prints a per-tensor table (shape, k, true bpw, relative MSE, SQNR, seconds) and a summary.",
    {{"bpw", "R", "bits per weight: 3.5, 4, 5.5, ... gives k = 2R for every tensor; any other R in [2, 6] allocates",
      number()},
     {"allocate", "", "with --bpw: allocate k per tensor even when 2R is an integer"},
     {"calib", "TOKENS", "calibration token file (int32) for the sensitivity measurement of an allocation"},
     {"sensitivity", "FILE", "sensitivity cache: read when it exists (and matches), else measured and written"},
     {"calib-windows", "N", "calibration windows per sensitivity measurement (default 8)", integer(1, 100000)},
     {"ctx", "N", "tokens per calibration window (default 512)", integer(2, 1 << 20)},
     {"pipeline", "SPEC", "the codec as a spec, e.g. scale,norm,fwht:256,lm2d:11,pack (scale needs --act-stats or --imatrix)"},
     {"bits-per-pair", "K", "k directly, 4..12", integer(min_bits, max_bits)},
     {"block", "B", "Hadamard block, power of two 32..4096 (default 256)", integer(32, 4096)},
     {"codebook", "FAMILY", "codebook family: lm2d (default) or d8 (one k for every tensor, k = 9, 10, 11)"},
     {"seed", "S", "sign seed (default 0x51a3c0de5eed0001)", u64()},
     {"act-stats", "FILE", "activation statistics from `qamw stats` (calibration tokens only)"},
     {"imatrix", "FILE", "llama.cpp importance matrix (legacy imatrix.dat) instead of --act-stats"},
     {"feedback", "", "error-feedback rounding under E[x x^T] from --act-stats (qamw stats --second-moments)"},
     {"feedback-alpha", "STEP", "with --feedback: search alpha on 0, STEP, ..., 1 by the feedback loss (default: off)",
      number()},
     {"feedback-refine", "N", "with --feedback: N coordinate-descent sweeps over the pairs afterwards (default 2)",
      integer(0, 100)},
     {"no-norm-refit", "", "with --feedback: keep the plain row norms (no least-squares refit under E[x x^T])"},
     {"no-act-order", "", "with --feedback: feed back pairs in the codec's order (default: by descending diagonal)"},
     {"damping", "L", "feedback damping: L * mean diagonal added to the rotated E[x x^T] (default 0.01)", number()},
     {"include", "RE", "also quantize 2-D tensors whose name matches RE (e.g. 'lm_head.weight')"},
     {"exclude", "RE", "never quantize tensors whose name matches RE"},
     {"threads", "N", "worker threads (default 0 = all cores)", threads()},
     {"json", "", "print one JSON object instead of the table"}},
    2,
    2};

int run_quantize(const args& a) {
    tools::quantize_options opt;
    if (int(a.has("bpw")) + int(a.has("bits-per-pair")) + int(a.has("pipeline")) > 1)
        throw error(errc::invalid_argument, "give one of --bpw, --bits-per-pair and --pipeline");
    const bool stats = a.has("act-stats") || a.has("imatrix");
    const double rate = a.get_double("bpw", 5.5);
    if (a.has("bpw") && !(rate >= 2 && rate <= 6))
        throw error(errc::invalid_argument, "--bpw " + a.get("bpw") + ": expected a rate in [2, 6] bits per weight");
    const bool allocate = a.has("allocate") || (a.has("bpw") && 2 * rate != std::floor(2 * rate));
    if (a.has("allocate") && !a.has("bpw")) throw error(errc::invalid_argument, "--allocate needs --bpw R");
    if (!allocate)
        for (const char* o : {"calib", "sensitivity", "calib-windows", "ctx"})
            if (a.has(o))
                throw error(errc::invalid_argument, std::string("--") + o + " applies to an allocation (--bpw R with 2R " +
                                                        "not an integer, or --allocate)");
    if (allocate && !a.has("calib"))
        throw error(errc::invalid_argument, "--bpw " + a.get("bpw") + " allocates k per tensor and needs --calib TOKENS " +
                                                "(calibration tokens for the sensitivity measurement)");
    if (allocate && a.has("feedback-alpha"))
        throw error(errc::invalid_argument,
                    "--feedback-alpha does not apply to an allocation (alpha is searched by nearest rounding, at k = 8 with --feedback)");
    if (allocate) {
        opt.codec.bits = 8;  // the last reference k of the sensitivity measurement (AWQ's α is searched there)
        opt.codec.block = static_cast<int>(a.get_int("block", 256));
    } else if (a.has("pipeline")) {
        if (a.has("block")) throw error(errc::invalid_argument, "--block: the pipeline spec gives B (fwht:B)");
        const pipeline_spec spec = parse_pipeline(a.get("pipeline"));
        if (spec.scale != stats)
            throw error(errc::invalid_argument, "--pipeline '" + a.get("pipeline") + "': " +
                                                    (spec.scale ? "a scale stage needs --act-stats or --imatrix"
                                                                : "--act-stats / --imatrix need a scale stage"));
        if (a.has("codebook"))
            throw error(errc::invalid_argument, "--codebook: the pipeline spec names the codebook (QUANT = lm2d or d8)");
        opt.codec.bits = spec.codec.bits;
        opt.codec.block = spec.codec.block;
        opt.codec.family = spec.codec.family;
    } else {
        opt.codec.bits = a.has("bits-per-pair") ? static_cast<int>(a.get_int("bits-per-pair", 11)) : tools::bits_for_bpw(rate);
        opt.codec.block = static_cast<int>(a.get_int("block", 256));
    }
    if (a.has("codebook")) {
        opt.codec.family = parse_codebook_family(a.get("codebook"), "--codebook");
        if (opt.codec.family == codebook_family::d8 && allocate)
            throw error(errc::invalid_argument, "--codebook d8 needs one k for every tensor (--bits-per-pair K or --bpw "
                                                "2K with K = 9, 10, 11), not a per-tensor allocation");
        if (!family_has_bits(opt.codec.family, opt.codec.bits))
            throw error(errc::invalid_argument, "--codebook d8: codebook d8 exists for k = 9, 10, 11 (not k = " +
                                                    std::to_string(opt.codec.bits) + ")");
    }
    if (a.has("seed")) opt.codec.seed = a.get_u64("seed", 0);
    opt.threads = static_cast<int>(a.get_int("threads", 0));
    opt.select.include = a.get("include");
    opt.select.exclude = a.get("exclude");
    opt.select.validate();
    check_family_bits(opt.codec.family, opt.codec.bits);
    make_block_layout(32, opt.codec.block);  // validate k and B before reading anything

    if (a.has("act-stats") && a.has("imatrix")) throw error(errc::invalid_argument, "give --act-stats or --imatrix, not both");
    std::vector<std::string> inputs = tools::input_paths(a.positional[0]);
    for (const char* o : {"act-stats", "imatrix"})
        if (a.has(o)) tools::require_input_file(std::string("--") + o, a.get(o)), inputs.push_back(a.get(o));
    if (allocate) tools::require_input_file("--calib", a.get("calib")), inputs.push_back(a.get("calib"));
    io::checkpoint ck = io::checkpoint::open(a.positional[0]);
    for (const auto& shard : ck.shards()) inputs.push_back(shard.path());
    const std::string& out = a.positional[1];
    tools::check_output("OUT", out, tools::output_kind::file, inputs);
    tools::awq_plan awq;
    std::optional<eval::second_moment_file> moments;
    if (a.has("feedback")) {
        if (!a.has("act-stats"))
            throw error(errc::invalid_argument, "--feedback needs --act-stats FILE written by `qamw stats --second-moments`");
        opt.feedback.damping = a.get_double("damping", 0.01);
        if (!(opt.feedback.damping >= 0 && opt.feedback.damping <= 10))
            throw error(errc::invalid_argument, "--damping must be in [0, 10]");
        opt.feedback_alpha_step = a.get_double("feedback-alpha", 0);
        opt.feedback.refine_sweeps = static_cast<int>(a.get_int("feedback-refine", opt.feedback.refine_sweeps));
        opt.feedback.act_order = !a.has("no-act-order");
        opt.feedback.refit_norms = !a.has("no-norm-refit");
        if (!(opt.feedback_alpha_step >= 0 && opt.feedback_alpha_step <= 1))
            throw error(errc::invalid_argument, "--feedback-alpha must be in [0, 1]");
        moments.emplace(eval::second_moment_file::open(a.get("act-stats")));
        if (moments->count() == 0)
            throw error(errc::format, a.get("act-stats") + ": no second moments (write it with `qamw stats --second-moments`)");
        opt.second_moment = [&moments](const std::string& name, std::int64_t cols) {
            return moments->load(tools::awq_group_key(name), cols);
        };
    } else if (a.has("damping") || a.has("feedback-alpha") || a.has("feedback-refine") || a.has("no-act-order") ||
               a.has("no-norm-refit")) {
        throw error(errc::invalid_argument, "--damping, --feedback-alpha, --feedback-refine, --no-act-order and "
                                            "--no-norm-refit apply to --feedback only");
    }
    std::optional<tools::activation_stats> st_alloc;
    std::optional<tools::allocation_plan> plan;
    if (allocate) {
        if (a.has("sensitivity")) tools::check_output("--sensitivity", a.get("sensitivity"), tools::output_kind::file, inputs);
        tools::sensitivity_options so;
        so.codec = opt.codec;
        so.select = opt.select;
        so.threads = opt.threads;
        so.n_ctx = a.get_int("ctx", 512);
        so.windows = a.get_int("calib-windows", 8);
        // σ at k = 6 and 8 (power law through both) for nearest rounding; with --feedback σ at k = 8 alone, the
        // quadratic model: the power law, fitted to nearest rounding's errors, overstates the loss of feedback's smaller
        // errors at low k (house-a heldout, docs/ALLOCATION.md: 3.75 bpw 0.01794 against 0.01727 with k = 8 alone)
        so.reference_bits = a.has("feedback") ? std::vector<int>{8} : std::vector<int>{6, 8};
        if (a.has("act-stats") || a.has("imatrix")) {
            const std::string sp = a.has("act-stats") ? a.get("act-stats") : a.get("imatrix");
            st_alloc = a.has("act-stats") ? tools::activation_stats::from_act_stats(sp)
                                          : tools::activation_stats::from_imatrix(sp, ck);
            so.stats = &*st_alloc;
            so.stats_hash = tools::file_hash(sp);
        }
        std::optional<progress> bar;
        so.progress = [&](std::size_t done, std::size_t total, const std::string& name) {
            if (!bar) bar.emplace("sensitivity", double(total), "tensors");
            bar->update(double(done), 0, name);
        };
        const std::vector<std::int32_t> calib = eval::read_tokens(a.get("calib"));
        // AWQ's α searched again at the allocated k for nearest rounding; with --feedback the table's α (searched at
        // k = 8): the nearest-rounding α at the allocated k raised the feedback rows' KLD at every budget (house-a
        // heldout, docs/ALLOCATION.md: +0.3 … +1.6 %), while it lowered the nearest-rounding rows' at 4 of 5 budgets.
        plan.emplace(tools::plan_allocation(a.positional[0], ck, rate, calib, tools::file_hash(a.get("calib")),
                                            a.get("sensitivity"), so, !a.has("feedback")));
        tools::apply_allocation(*plan, opt);
        for (const auto& [key, alpha] : plan->alphas)  // α searched at the allocated k; proxy errors not kept
            awq.groups.push_back({key, {}, alpha, std::nan(""), std::nan(""), {}});
    } else if (a.has("act-stats") || a.has("imatrix")) {
        tools::activation_stats st = a.has("act-stats") ? tools::activation_stats::from_act_stats(a.get("act-stats"))
                                                        : tools::activation_stats::from_imatrix(a.get("imatrix"), ck);
        std::optional<progress> search;
        awq = tools::plan_awq(ck, opt, st, [&](std::size_t done, std::size_t total, const std::string& key) {
            if (!search) search.emplace("awq search", double(total), "groups");
            search->update(double(done), 0, key);
        });
        opt.scales = [&awq](const std::string& name) -> const std::vector<float>* {
            auto it = awq.scales.find(name);
            return it == awq.scales.end() ? nullptr : &it->second;
        };
    }
    progress bar("quantize", double(ck.names().size()), "tensors");
    tools::quantize_report rep = tools::quantize_checkpoint(
        ck, out, opt, [&](std::size_t done, std::size_t, std::size_t bytes, const std::string& name) {
            bar.update(double(done), double(bytes), name);
        });

    if (a.has("json")) {
        tools::json_out j = tools::json_out::object();
        j["input"] = a.positional[0];
        j["output"] = out;
        j["bits_per_pair"] = plan ? tools::json_out() : tools::json_out(opt.codec.bits);  // null: per tensor
        j["block"] = opt.codec.block;
        j["pipeline"] = plan ? tools::json_out() : tools::json_out(to_string(pipeline_spec{stats, family_name(opt.codec.family), opt.codec}));
        if (plan) {
            tools::json_out& al = (j["allocation"] = tools::json_out::object());
            al["budget_bpw"] = plan->rate;
            al["planned_bpw"] = plan->result.bpw();
            al["predicted_kld"] = plan->result.loss;
            al["exact"] = plan->result.exact;
            tools::json_out& refs = (al["reference_k"] = tools::json_out::array());
            for (int k : plan->table.reference_bits) refs.push_back(k);
            al["calibration_windows"] = plan->table.windows;
            al["sensitivity_cached"] = plan->cached;
            al["sensitivity_seconds"] = plan->table.seconds;
            al["sensitivity_seconds_awq"] = plan->table.seconds_awq;
            al["sensitivity_seconds_distortion"] = plan->table.seconds_distortion;
            al["sensitivity_seconds_forward"] = plan->table.seconds_forward;
            al["allocation_seconds"] = plan->allocate_seconds;
            al["awq_seconds"] = plan->awq_seconds;
        }
        j["input_bytes"] = static_cast<std::int64_t>(rep.input_bytes);
        j["output_bytes"] = static_cast<std::int64_t>(rep.output_bytes);
        j["bpw_quantized"] = rep.bpw_quantized();
        j["bpw_file"] = rep.bpw_file();
        j["seconds"] = rep.seconds;
        j["threads"] = resolve_threads(opt.threads);
        tools::json_out& fb = (j["feedback"] = tools::json_out::object());
        fb["enabled"] = bool(opt.second_moment);
        if (opt.second_moment) {
            double sig = 0, nn = 0, f = 0;
            for (const auto& t : rep.tensors)
                if (t.feedback) sig += t.proxy.signal, nn += t.proxy.loss_nearest, f += t.proxy.loss_feedback;
            fb["damping"] = opt.feedback.damping;
            fb["refit_norms"] = opt.feedback.refit_norms;
            fb["block"] = opt.feedback.block;
            fb["alpha_search_step"] = opt.feedback_alpha_step;
            fb["refine_sweeps"] = opt.feedback.refine_sweeps;
            fb["act_order"] = opt.feedback.act_order;
            fb["proxy_relative_nearest"] = sig > 0 ? nn / sig : 0.0;
            fb["proxy_relative_feedback"] = sig > 0 ? f / sig : 0.0;
        }
        tools::json_out& groups = (j["awq"] = tools::json_out::array());
        for (const auto& g : awq.groups) {
            tools::json_out r = tools::json_out::object();
            r["group"] = g.key;
            r["alpha"] = g.alpha;
            r["proxy_error_plain"] = g.err_plain;
            r["proxy_error_scaled"] = g.err_best;
            groups.push_back(r);
        }
        tools::json_out& ts = (j["tensors"] = tools::json_out::array());
        for (const auto& t : rep.tensors) {
            tools::json_out r = tools::json_out::object();
            r["name"] = t.name;
            tools::json_out& shape = (r["shape"] = tools::json_out::array());
            for (auto d : t.shape) shape.push_back(d);
            r["quantized"] = t.quantized;
            if (t.quantized) {
                r["bits_per_pair"] = opt.codec_for(t.name).bits;
                r["bpw"] = t.bpw;
                if (plan) {
                    const tools::tensor_sensitivity& ts = plan->table.tensors[plan->index.at(t.name)];
                    const int k = opt.codec_for(t.name).bits;
                    r["sensitivity"] = plan->table.sigma(ts, k);
                    tools::json_out& kld = (r["kld_at_reference_k"] = tools::json_out::array());
                    for (double v : ts.kld) kld.push_back(v);
                    r["predicted_kld"] = plan->table.predicted(ts, k);
                }
                r["relative_mse"] = t.rel_mse;
                r["sqnr_db"] = tools::sqnr_db(t.rel_mse);
            }
            if (t.feedback) {
                // E||(W - What) x||^2 / E||W x||^2 under the calibration E[x x^T]: nearest rounding vs feedback
                r["proxy_relative_nearest"] = t.proxy.signal > 0 ? t.proxy.loss_nearest / t.proxy.signal : 0.0;
                r["proxy_relative_feedback"] = t.proxy.signal > 0 ? t.proxy.loss_feedback / t.proxy.signal : 0.0;
                r["damping_absolute"] = t.proxy.damping_abs;
                r["identity_fallback"] = t.proxy.fallback_identity;
            }
            r["bytes"] = static_cast<std::int64_t>(t.bytes_out);
            r["seconds"] = t.seconds;
            ts.push_back(r);
        }
        std::printf("%s\n", tools::dump_json(j).c_str());
        return 0;
    }
    std::printf("%-48s %13s %3s %7s %10s %8s %8s%s\n", "tensor", "shape", "k", "bpw", "rel. MSE", "SQNR dB", "seconds",
                plan ? "  sensitivity  predicted KLD" : "");
    for (const auto& t : rep.tensors) {
        if (!t.quantized) continue;
        std::string shape = std::to_string(t.shape[0]) + "x" + std::to_string(t.shape[1]);
        const int k = opt.codec_for(t.name).bits;
        std::printf("%-48s %13s %3d %7.3f %10.3e %8.2f %8.2f", t.name.c_str(), shape.c_str(), k, t.bpw, t.rel_mse,
                    tools::sqnr_db(t.rel_mse), t.seconds);
        if (plan) {
            const tools::tensor_sensitivity& ts = plan->table.tensors[plan->index.at(t.name)];
            std::printf("  %11.4g  %13.4e", plan->table.sigma(ts, k), plan->table.predicted(ts, k));
        }
        std::printf("\n");
    }
    std::string refs;
    if (plan)
        for (int k : plan->table.reference_bits) refs += (refs.empty() ? "" : ", ") + std::to_string(k);
    if (plan)
        std::printf("\nallocation for --bpw %g: %.4f bpw planned (%s), predicted KLD %.4e (sum over tensors); sensitivity "
                    "%s (%lld calibration windows, reference k = %s), allocation %.3f s\n",
                    plan->rate, plan->result.bpw(), plan->result.exact ? "exact" : "Lagrangian + greedy fill",
                    plan->result.loss,
                    plan->cached ? ("read from " + a.get("sensitivity")).c_str()
                                 : ("measured in " + std::to_string(plan->table.seconds) + " s").c_str(),
                    static_cast<long long>(plan->table.windows), refs.c_str(), plan->allocate_seconds);
    if (!awq.groups.empty()) {
        double plain = 0, best = 0;
        std::printf("\n%-44s %6s %14s\n", "activation-aware group", "alpha", "error ratio");
        for (const auto& g : awq.groups) {
            std::printf("%-44s %6.2f %14.4f\n", g.key.c_str(), g.alpha,
                        g.err_plain > 0 ? g.err_best / g.err_plain : plan ? std::nan("") : 1.0);
            plain += g.err_plain, best += g.err_best;
        }
        if (plan)
            std::printf("alpha searched at the last reference k = %d for every k (error ratios: `--bits-per-pair %d`)\n",
                        plan->table.reference_bits.back(), plan->table.reference_bits.back());
        else
            std::printf("output-error proxy over all groups: x%.4f of unscaled\n", plain > 0 ? best / plain : 1.0);
    }
    if (opt.second_moment) {
        double sig = 0, nn = 0, f = 0;
        for (const auto& t : rep.tensors)
            if (t.feedback) sig += t.proxy.signal, nn += t.proxy.loss_nearest, f += t.proxy.loss_feedback;
        std::printf("\nerror feedback (damping %.3g): output-error proxy E|(W-What)x|^2 / E|Wx|^2 %.4e nearest -> %.4e\n",
                    opt.feedback.damping, sig > 0 ? nn / sig : 0.0, sig > 0 ? f / sig : 0.0);
    }
    std::printf("\n%s -> %s\n", a.positional[0].c_str(), out.c_str());
    std::printf("input %.2f MB, output %.2f MB (%.1f%%); k = %s, B = %d\n", rep.input_bytes / 1e6, rep.output_bytes / 1e6,
                100.0 * double(rep.output_bytes) / double(rep.input_bytes),
                plan ? "per tensor" : std::to_string(opt.codec.bits).c_str(), opt.codec.block);
    std::printf("average bpw: %.4f over quantized weights (%zu), %.4f over the whole file; wall time %.2f s on %d threads\n",
                rep.bpw_quantized(), rep.quantized_weights, rep.bpw_file(), rep.seconds, resolve_threads(opt.threads));
    return 0;
}

}  // namespace qamw::cli
