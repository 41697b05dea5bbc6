// tools/qamw/main.cpp — the `qamw` command: dispatches to the subcommands of commands.hpp.
// With no subcommand it runs `qamw demo` (quantize the built-in model and report size, quality and speed).
#include "commands.hpp"
#include "common/temp_registry.hpp"

#include <qamw/dispatch.hpp>
#include <qamw/version.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using namespace qamw::cli;

const command commands[] = {
    {"demo", demo_spec, run_demo},
    {"codebook", codebook_spec, run_codebook},
    {"quantize", quantize_spec, run_quantize},
    {"dequantize", dequantize_spec, run_dequantize},
    {"inspect", inspect_spec, run_inspect},
    {"eval", eval_spec, run_eval},
    {"stats", stats_spec, run_stats},
    {"bench", bench_spec, run_bench},
};

void usage() {
    std::printf("usage: qamw [COMMAND] [ARGS...]   (no command: qamw demo)\n\n"
                "QAM-W LLM weight codec %s: 2D Lloyd-Max coding of rotated, normalised weight rows.\n\ncommands:\n",
                qamw::version_string);
    for (const auto& c : commands) std::printf("  %-11s %s\n", c.name, c.spec.usage.c_str());
    std::printf("  %-11s %s\n", "--version", "print the version and the instruction set in use");
    std::printf("\nEvery command takes --help and --json.\n");
}

/// QAMW_ISA is checked before any command runs, so that a bad value is reported as such and not as a failure of
/// whatever tensor happens to reach the kernels first.
bool check_isa_env() {
    const char* env = std::getenv("QAMW_ISA");
    if (!env || !*env) return true;
    try {
        qamw::select_kernels();
        return true;
    } catch (const qamw::error& e) {
        std::string available;
        for (qamw::isa i : qamw::available_isas()) available += std::string(available.empty() ? "" : ", ") + qamw::isa_name(i);
        std::fprintf(stderr, "qamw: environment variable QAMW_ISA='%s' refused: %s (available here: %s)\n", env,
                     e.what(), available.c_str());
        return false;
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string name = argc > 1 ? argv[1] : "demo";
    if (!check_isa_env()) return 2;
    try {
        qamw::tools::temp_registry::install();
        if (name == "--help" || name == "-h" || name == "help") return usage(), 0;
        if (name == "--version") {
            bool json = argc > 2 && std::strcmp(argv[2], "--json") == 0;
            const char* isa = qamw::isa_name(qamw::select_kernels().id);
            if (json)
                std::printf("{\"version\": \"%s\", \"format_version\": %d, \"isa\": \"%s\"}\n", qamw::version_string,
                            qamw::format_version, isa);
            else
                std::printf("qamw %s (container format %d), kernels: %s\n", qamw::version_string, qamw::format_version,
                            isa);
            return 0;
        }
        int first = argc > 1 ? 2 : 1;
        if (name.rfind("--", 0) == 0) name = "demo", first = 1;  // `qamw --json` = `qamw demo --json`
        for (const auto& c : commands)
            if (name == c.name) {
                args a = args::parse(argc, argv, first, c.spec);
                if (a.has("help")) return print_help(c.spec), 0;
                return c.run(a);
            }
        std::fprintf(stderr, "qamw: unknown command '%s'\n\n", name.c_str());
        usage();
        return 2;
    } catch (const qamw::error& e) {
        std::fprintf(stderr, "qamw %s: %s\n", name.c_str(), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qamw %s: internal error: %s\n", name.c_str(), e.what());
        return 3;
    }
}
