// tools/qamw/cmd_eval.cpp — `qamw eval`: perplexity of a Llama checkpoint on a token file, and KL divergence against
// a saved base run (protocol and base-file layout: tools/eval/perplexity.hpp).
#include "commands.hpp"
#include "common/output_guard.hpp"

#include <eval/model_loader.hpp>
#include <eval/perplexity.hpp>
#include "common/json_out.hpp"

#include <chrono>
#include <cstdio>

namespace qamw::cli {

const command_spec eval_spec{
    "qamw eval MODEL --tokens FILE [--ctx N] [--windows N] [--threads N] [--save-base FILE] [--kld-base FILE]\n"
    "          [--dequantized | --integer | --fake-quant CODEC] [--json]",
    "Perplexity of MODEL on FILE. MODEL is a Hugging Face LlamaForCausalLM checkpoint (config.json + safetensors), run\n"
    "in f32 (or with its linear weights replaced by a codec's reconstruction: --fake-quant polar:8, scalar:4,\n"
    "rtn32:4, rtn128-rot:4, qamw:11, or a pipeline spec such as norm,fwht:128,lm2d:8,pack), or a .qamw.safetensors container, whose linear layers run through the fused\n"
    "rotated-domain kernels (--dequantized: through a decoded f32 copy instead, to cross-check). Tokens: FILE (little-endian int32 token ids): non-overlapping windows of N tokens, first token set to BOS,\n"
    "the second half of each window scored. --save-base keeps what a later run needs for the KL divergence\n"
    "(top-32 tokens and 32 tail samples per scored position); --kld-base compares against such a file\n"
    "(mean KL(base || this), its 99th percentile, top-1 agreement, ln(PPL/PPL_base)).",
    {
        {"tokens", "FILE", "token ids, little-endian int32 (required)"},
        {"ctx", "N", "window length in tokens (default 512)", integer(2, 1 << 20)},
        {"windows", "N", "evaluate at most N windows (default: all)", integer(1, INT64_MAX)},
        {"threads", "N", "worker threads, one window each at a time (default: all cores)", threads()},
        {"save-base", "FILE", "write this run's distributions for later --kld-base runs"},
        {"kld-base", "FILE", "KL divergence against a run saved with --save-base"},
        {"dequantized", "", "container: decode the weights to f32 instead of running the fused kernels"},
        {"integer", "", "container: run the products on the integer-domain kernels (quantized activations)"},
        {"fake-quant", "CODEC", "checkpoint: replace every linear weight by CODEC's reconstruction (baselines)"},
        {"json", "", "print one JSON object instead of the summary"},
    },
    1,
    1};

namespace {

std::string simd_in_use() { return Eigen::SimdInstructionSetsInUse(); }

}  // namespace

int run_eval(const args& a) {
    if (a.has("help")) {
        print_help(eval_spec);
        return 0;
    }
    if (!a.has("tokens")) throw error(errc::invalid_argument, "--tokens FILE is required (see --help)");
    const std::string model_path = a.positional.at(0), tokens_path = a.get("tokens");
    eval::eval_options opt;
    opt.n_ctx = a.get_int("ctx", 512);
    opt.max_windows = a.get_int("windows", 0);
    const long threads = a.get_int("threads", 0);
    opt.threads = static_cast<int>(threads);
    if (opt.n_ctx < 2) throw error(errc::invalid_argument, "--ctx must be at least 2");
    if (a.has("windows") && opt.max_windows <= 0) throw error(errc::invalid_argument, "--windows must be >= 1");
    const bool json_out = a.has("json");
    tools::require_input_file("--tokens", tokens_path);
    if (a.has("kld-base")) tools::require_input_file("--kld-base", a.get("kld-base"));
    if (a.has("save-base")) {
        std::vector<std::string> inputs = tools::input_paths(model_path);
        inputs.push_back(tokens_path);
        if (a.has("kld-base")) inputs.push_back(a.get("kld-base"));
        tools::check_output("--save-base", a.get("save-base"), tools::output_kind::file, inputs);
    }
    Eigen::setNbThreads(1);  // parallelism is over windows; Eigen itself stays single-threaded

    const auto t0 = std::chrono::steady_clock::now();
    eval::model_options mopt;
    mopt.dequantized = a.has("dequantized");
    mopt.integer = a.has("integer");
    if (mopt.dequantized && mopt.integer) throw error(errc::invalid_argument, "give --dequantized or --integer, not both");
    mopt.fake_quant = a.get("fake-quant");
    mopt.threads = opt.threads;
    eval::loaded_model loaded = eval::load_model(model_path, mopt);
    const eval::llama_model& model = *loaded.model;
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    opt.bos = model.config().bos_token_id;
    const std::vector<int32_t> tokens = eval::read_tokens(tokens_path);

    std::optional<eval::kld_base> base;
    if (a.has("kld-base")) {
        base = eval::read_kld_base(a.get("kld-base"));
        opt.compare = &*base;
    }
    opt.save_base = a.has("save-base");

    const int64_t total = std::min<int64_t>(int64_t(tokens.size()) / opt.n_ctx,
                                            opt.max_windows > 0 ? opt.max_windows : INT64_MAX);
    progress bar("eval", double(total), "windows");
    const auto start = std::chrono::steady_clock::now();
    opt.progress = [&](int64_t done, int64_t) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char rate[48];
        std::snprintf(rate, sizeof rate, "%.0f tokens/s", s > 0 ? double(done * opt.n_ctx) / s : 0.0);
        bar.update(double(done), double(done * opt.n_ctx * 4), rate);  // bytes: of token ids read
    };
    const eval::eval_result r = eval::evaluate_perplexity(model, tokens, opt);
    if (opt.save_base) eval::write_kld_base(a.get("save-base"), r.base);

    if (json_out) {
        tools::json_out j = tools::json_out::object();
        j["command"] = "eval";
        j["model"] = model_path;
        j["weights"] = loaded.kind;
        j["linear_bpw"] = loaded.bpw();
        j["tokens_file"] = tokens_path;
        j["n_ctx"] = r.n_ctx;
        j["windows"] = r.windows;
        j["scored"] = r.scored;
        j["tokens"] = r.tokens;
        j["nll_mean"] = r.nll_mean;
        j["ppl"] = r.ppl;
        j["ppl_se"] = r.ppl_se;
        j["seconds"] = r.seconds;
        j["tokens_per_second"] = r.tokens_per_second;  // every token of every window (prompt processing rate)
        j["scored_per_second"] = r.seconds > 0 ? double(r.scored) / r.seconds : 0.0;
        j["load_seconds"] = load_seconds;
        j["threads"] = r.threads;
        j["weight_bytes"] = uint64_t(model.weight_bytes());
        j["simd"] = simd_in_use();
        if (r.kld) {
            const eval::kld_summary& k = *r.kld;
            tools::json_out kj = tools::json_out::object();
            kj["base"] = a.get("kld-base");
            kj["mean"] = k.mean;
            kj["se"] = k.se;
            kj["p99"] = k.p99;
            kj["max"] = k.max;
            kj["lower_bound"] = k.lower_bound;
            kj["top1_agreement"] = k.top1;
            kj["base_ppl"] = k.base_ppl;
            kj["ln_ppl_ratio"] = k.dlog_ppl;
            kj["ln_ppl_ratio_se"] = k.dlog_ppl_se;
            kj["base_tail_mass"] = k.base_tail_mean;
            kj["top_k"] = k.top_k;
            kj["tail_samples"] = k.samples;
            j["kld"] = std::move(kj);
        }
        if (opt.save_base) j["saved_base"] = a.get("save-base");
        std::printf("%s\n", tools::dump_json(j).c_str());
        return 0;
    }

    std::printf("model      %s, %s: linear layers at %.4f bits per weight\n", model_path.c_str(), loaded.kind.c_str(),
                loaded.bpw());
    std::printf("           %lld layers, hidden %lld, vocab %lld, %.1f MB of weights, loaded in %.1f s\n",
                (long long)model.config().num_hidden_layers,
                (long long)model.config().hidden_size, (long long)model.config().vocab_size,
                double(model.weight_bytes()) / 1e6, load_seconds);
    std::printf("tokens     %s: %lld windows of %lld, %lld scored tokens\n", tokens_path.c_str(), (long long)r.windows,
                (long long)r.n_ctx, (long long)r.scored);
    std::printf("PPL        %.4f ± %.4f   (mean NLL %.5f)\n", r.ppl, r.ppl_se, r.nll_mean);
    std::printf("speed      %.0f tokens/s processed, %.0f scored/s  (%.1f s, %d threads, Eigen %s)\n",
                r.tokens_per_second, r.seconds > 0 ? double(r.scored) / r.seconds : 0.0, r.seconds, r.threads,
                simd_in_use().c_str());
    if (r.kld) {
        const eval::kld_summary& k = *r.kld;
        std::printf("KLD        mean %.6f ± %.6f   p99 %.6f   max %.4f   (base %s)\n", k.mean, k.se, k.p99, k.max,
                    a.get("kld-base").c_str());
        std::printf("           top-%u exact + %u tail samples; top-%u lower bound %.6f; mean base tail mass %.4f\n",
                    k.top_k, k.samples, k.top_k, k.lower_bound, k.base_tail_mean);
        std::printf("top-1      %.4f agreement with the base argmax\n", k.top1);
        std::printf("ΔPPL       base %.4f → %.4f: ln ratio %+.6f ± %.6f (%+.3f %%)\n", k.base_ppl, r.ppl, k.dlog_ppl,
                    k.dlog_ppl_se, 100.0 * std::expm1(k.dlog_ppl));
    }
    if (opt.save_base)
        std::printf("saved      %s (top-%u + %u tail samples per position)\n", a.get("save-base").c_str(),
                    r.base.top_k, r.base.samples);
    return 0;
}

}  // namespace qamw::cli
