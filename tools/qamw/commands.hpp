// tools/qamw/commands.hpp — the subcommands of the `qamw` tool. Each lives in tools/qamw/cmd_<name>.cpp, defines its
// command_spec (usage, summary, options: the same table parses argv and prints --help) and a run function that returns
// the process exit code. main.cpp maps names to them and turns qamw::error into a message and exit code 1.
#pragma once

#include "cli.hpp"

namespace qamw::cli {

struct command {
    const char* name;
    const command_spec& spec;
    int (*run)(const args&);
};

extern const command_spec codebook_spec, quantize_spec, dequantize_spec, inspect_spec, bench_spec, eval_spec,
    stats_spec, demo_spec;
int run_codebook(const args&);
int run_quantize(const args&);
int run_dequantize(const args&);
int run_inspect(const args&);
int run_bench(const args&);
int run_eval(const args&);
int run_stats(const args&);
int run_demo(const args&);

}  // namespace qamw::cli
