// tools/qamw/cmd_stats.cpp — `qamw stats`: per-input-channel activation statistics of every linear layer of a Llama
// checkpoint over calibration tokens (file layout and definitions: tools/eval/act_stats.hpp).
#include "commands.hpp"
#include "common/output_guard.hpp"

#include <eval/act_stats.hpp>
#include <eval/model_loader.hpp>
#include <eval/perplexity.hpp>
#include "common/json_out.hpp"

#include <chrono>
#include <cstdio>

namespace qamw::cli {

const command_spec stats_spec{
    "qamw stats MODEL --tokens FILE --out STATS [--second-moments] [--ctx N] [--max-tokens N] [--threads N] [--json]",
    "One f32 forward pass of MODEL (a Hugging Face LlamaForCausalLM directory, or a qamw container: then the inputs\n"
    "are those of the quantized model, for sequential calibration) over calibration tokens FILE\n"
    "(little-endian int32, windows of N tokens with BOS first), recording for the input of every linear layer the\n"
    "per-channel mean |x| and mean x^2. STATS is a safetensors file: <weight>.mean_abs and <weight>.mean_sq, F32\n"
    "[in_features], metadata <weight>.tokens and format=qamw-act-stats. Use calibration text, never evaluation text.\n"
    "--second-moments also stores E[x x^T] per group of weights sharing an input: <group>.second_moment F32 [in, in].\n"
    "The pass runs layer by layer (memory: one layer's statistics); between layers the hidden states of all windows\n"
    "(4 x tokens x hidden_size bytes) are kept in a scratch file next to STATS, removed at the end.",
    {
        {"tokens", "FILE", "calibration token ids, little-endian int32 (required)"},
        {"out", "STATS", "output safetensors file (required)"},
        {"second-moments", "", "also gather E[x x^T] per input group (for `qamw quantize --feedback`)"},
        {"ctx", "N", "window length in tokens (default 512)", integer(1, 1 << 20)},
        {"max-tokens", "N", "use at most N tokens (whole windows; default: the whole file)", integer(1, INT64_MAX)},
        {"threads", "N", "worker threads, one window each at a time (default: all cores)", threads()},
        {"json", "", "print one JSON object instead of the summary"},
    },
    1,
    1};

int run_stats(const args& a) {
    if (a.has("help")) {
        print_help(stats_spec);
        return 0;
    }
    if (!a.has("tokens")) throw error(errc::invalid_argument, "--tokens FILE is required (see --help)");
    if (!a.has("out")) throw error(errc::invalid_argument, "--out STATS is required (see --help)");
    const std::string model_path = a.positional.at(0), tokens_path = a.get("tokens"), out_path = a.get("out");
    const int64_t n_ctx = a.get_int("ctx", 512);
    const int64_t max_tokens = a.get_int("max-tokens", 0);
    const long threads = a.get_int("threads", 0);
    if (n_ctx < 1) throw error(errc::invalid_argument, "--ctx must be at least 1");
    if (a.has("max-tokens") && max_tokens < n_ctx)
        throw error(errc::invalid_argument, "--max-tokens must be at least one window (--ctx)");
    tools::require_input_file("--tokens", tokens_path);
    {
        std::vector<std::string> inputs = tools::input_paths(model_path);
        inputs.push_back(tokens_path);
        tools::check_output("--out", out_path, tools::output_kind::file, inputs);
    }
    Eigen::setNbThreads(1);

    const auto t0 = std::chrono::steady_clock::now();
    eval::act_stats_collector collector(a.has("second-moments"));
    eval::model_options mopt;
    mopt.observe = collector.observer();
    const eval::loaded_model loaded = eval::load_model(model_path, mopt);
    const eval::llama_model& model = *loaded.model;
    const std::vector<int32_t> tokens = eval::read_tokens(tokens_path);
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    int64_t windows = int64_t(tokens.size()) / n_ctx;
    if (max_tokens > 0) windows = std::min(windows, max_tokens / n_ctx);
    const int64_t passes = eval::act_stats_collector::passes(model.config());
    progress bar("stats", double(windows * passes), "window passes");
    const auto t1 = std::chrono::steady_clock::now();
    const eval::act_stats_summary s =
        collector.collect(model, tokens, n_ctx, max_tokens, int(threads), out_path, [&](int64_t done, int64_t) {
            const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
            char rate[48];
            std::snprintf(rate, sizeof rate, "%.0f tokens/s", sec > 0 ? double(done * n_ctx) / double(passes) / sec : 0.0);
            bar.update(double(done), double(done * n_ctx * 4) / double(passes), rate);  // bytes: of token ids
        });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

    const int64_t rows = s.windows * s.n_ctx;
    if (a.has("json")) {
        tools::json_out j = tools::json_out::object();
        j["command"] = "stats";
        j["model"] = model_path;
        j["tokens_file"] = tokens_path;
        j["out"] = out_path;
        j["n_ctx"] = s.n_ctx;
        j["windows"] = s.windows;
        j["tokens"] = rows;
        j["layers"] = uint64_t(s.layers);
        j["second_moments"] = uint64_t(s.moments);
        j["seconds"] = seconds;
        j["load_seconds"] = load_seconds;
        j["tokens_per_second"] = seconds > 0 ? double(rows) / seconds : 0.0;
        std::printf("%s\n", tools::dump_json(j).c_str());
        return 0;
    }
    std::printf("model      %s (%lld layers)\n", model_path.c_str(), (long long)model.config().num_hidden_layers);
    std::printf("tokens     %s: %lld windows of %lld = %lld tokens\n", tokens_path.c_str(), (long long)s.windows,
                (long long)s.n_ctx, (long long)rows);
    std::printf("recorded   %zu linear inputs in %.1f s (%.0f tokens/s)\n", s.layers, seconds,
                seconds > 0 ? double(rows) / seconds : 0.0);
    std::printf("wrote      %s\n", out_path.c_str());
    return 0;
}

}  // namespace qamw::cli
