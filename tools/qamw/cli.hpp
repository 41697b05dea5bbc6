// tools/qamw/cli.hpp — what every `qamw` subcommand shares: option parsing, --help text, progress display.
//
// A subcommand declares its options once (name, value name or empty for a flag, help line); `parse` checks argv against
// them and the same table prints --help, so the two never disagree.
#pragma once

#include <qamw/error.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace qamw::cli {

struct option {
    std::string name;   ///< without the leading "--"
    std::string value;  ///< placeholder shown in --help ("N", "FILE"); empty for a flag
    std::string help;
};

struct command_spec {
    std::string usage;     ///< e.g. "qamw codebook --bits K [--json]"
    std::string summary;   ///< one paragraph printed under the usage line
    std::vector<option> options;
    int min_positional = 0, max_positional = 0;
};

/// Parsed command line of one subcommand.
class args {
public:
    std::vector<std::string> positional;

    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const {
        auto it = values_.find(name);
        return it == values_.end() ? fallback : it->second;
    }
    long get_int(const std::string& name, long fallback) const {
        if (!has(name)) return fallback;
        const std::string& s = values_.at(name);
        char* end = nullptr;
        long v = std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0')
            throw error(errc::invalid_argument, "--" + name + ": expected an integer, got '" + s + "'");
        return v;
    }
    double get_double(const std::string& name, double fallback) const {
        if (!has(name)) return fallback;
        const std::string& s = values_.at(name);
        char* end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0')
            throw error(errc::invalid_argument, "--" + name + ": expected a number, got '" + s + "'");
        return v;
    }

    /// Parses argv[first..argc) against `spec`; "--help" is always accepted. Throws qamw::error on anything unknown.
    static args parse(int argc, char** argv, int first, const command_spec& spec) {
        args a;
        for (int i = first; i < argc; ++i) {
            std::string s = argv[i];
            if (s.rfind("--", 0) != 0 || s == "--") {
                a.positional.push_back(s);
                continue;
            }
            std::string name = s.substr(2), value;
            auto eq = name.find('=');
            bool inline_value = eq != std::string::npos;
            if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
            if (name == "help") {
                a.values_["help"] = "";
                continue;
            }
            const option* o = nullptr;
            for (const auto& opt : spec.options)
                if (opt.name == name) o = &opt;
            if (!o) throw error(errc::invalid_argument, "unknown option --" + name + " (see --help)");
            if (!o->value.empty() && !inline_value) {
                if (i + 1 >= argc) throw error(errc::invalid_argument, "--" + name + " needs a value " + o->value);
                value = argv[++i];
            }
            if (o->value.empty() && inline_value)
                throw error(errc::invalid_argument, "--" + name + " is a flag and takes no value");
            a.values_[name] = value;
        }
        if (!a.has("help")) {
            int n = static_cast<int>(a.positional.size());
            if (n < spec.min_positional || n > spec.max_positional)
                throw error(errc::invalid_argument, "wrong number of arguments; usage: " + spec.usage);
        }
        return a;
    }

private:
    std::map<std::string, std::string> values_;
};

inline void print_help(const command_spec& spec) {
    std::printf("usage: %s\n\n%s\n", spec.usage.c_str(), spec.summary.c_str());
    if (!spec.options.empty()) std::printf("\noptions:\n");
    for (const auto& o : spec.options) {
        std::string left = "--" + o.name + (o.value.empty() ? "" : " " + o.value);
        std::printf("  %-24s %s\n", left.c_str(), o.help.c_str());
    }
    std::printf("  %-24s %s\n", "--help", "print this help");
}

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise (logs, CI).
class progress {
public:
    progress(std::string what, double total_units, std::string unit_name)
        : what_(std::move(what)), unit_(std::move(unit_name)), total_(total_units), tty_(isatty(2) != 0),
          start_(clock::now()), last_(start_) {}

    /// `done_units` of `total_units` finished; `bytes` processed so far (for MB/s).
    void update(double done_units, double bytes, const std::string& item = "") {
        auto now = clock::now();
        double since_last = std::chrono::duration<double>(now - last_).count();
        bool finished = done_units >= total_;
        if (!finished && since_last < (tty_ ? 0.1 : 5.0)) return;
        last_ = now;
        double t = std::chrono::duration<double>(now - start_).count();
        double frac = total_ > 0 ? done_units / total_ : 1.0;
        double eta = frac > 0 ? t * (1 - frac) / frac : 0;
        double mbs = t > 0 ? bytes / t / 1e6 : 0;
        if (tty_) {
            int width = 30, fill = static_cast<int>(frac * width + 0.5);
            std::fprintf(stderr, "\r%s [%-*s] %.0f/%.0f %s  %.1f MB/s  ETA %.0fs  %-40.40s", what_.c_str(), width,
                         std::string(static_cast<size_t>(fill), '#').c_str(), done_units, total_, unit_.c_str(), mbs,
                         eta, item.c_str());
            if (finished) std::fprintf(stderr, "\n");
        } else {
            std::fprintf(stderr, "%s: %.0f/%.0f %s, %.1f MB/s, ETA %.0fs %s\n", what_.c_str(), done_units, total_,
                         unit_.c_str(), mbs, eta, item.c_str());
        }
        std::fflush(stderr);
    }

private:
    using clock = std::chrono::steady_clock;
    std::string what_, unit_;
    double total_;
    bool tty_;
    clock::time_point start_, last_;
};

}  // namespace qamw::cli
