// tools/qamw/cli.hpp — what every `qamw` subcommand shares: option parsing (CLI11), --help text, progress display.
//
// A subcommand declares its options once (name, value name or empty for a flag, help line, and for numbers the
// accepted range); `args::parse` builds a CLI::App from that table, so parsing and --help never disagree. Every command
// gets --help and --json even when its table does not list them.
//
// Numbers are checked by the parser, never wrapped: an integer option declared with cli::integer(lo, hi) accepts only a
// decimal literal (hex too for cli::u64()) inside [lo, hi]; anything else ("4294967304" for a [4, 12] option, "1e3",
// "12abc", "-1" for an unsigned option) is refused as "--name: expected an integer in [lo, hi], got '…'". Reading an
// option with get_int() that was not declared as an integer is a programming error (errc::internal, naming the option).
// --threads everywhere is bounded by max_threads(): 4 × the hardware threads, at most 1024 (1024 when the hardware
// count is unknown).
#pragma once

#include <qamw/error.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace qamw::cli {

/// The largest --threads any command accepts: 4 × hardware threads, capped at 1024.
inline long long max_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1024 : std::min<long long>(1024, 4LL * hw);
}

/// What kind of value an option takes.
enum class value_kind { text, integer, u64, number };

struct value_rule {
    value_kind kind = value_kind::text;
    long long lo = 0, hi = 0;  ///< integer: inclusive range
};
/// An integer option in [lo, hi] (decimal).
inline value_rule integer(long long lo, long long hi) { return {value_kind::integer, lo, hi}; }
/// An unsigned 64-bit option, decimal or 0x-hex.
inline value_rule u64() { return {value_kind::u64, 0, 0}; }
/// A finite floating-point number.
inline value_rule number() { return {value_kind::number, 0, 0}; }
/// --threads: 0 (all cores) … max_threads().
inline value_rule threads() { return integer(0, max_threads()); }

struct option {
    std::string name;   ///< without the leading "--"
    std::string value;  ///< placeholder shown in --help ("N", "FILE"); empty for a flag
    std::string help;
    value_rule rule{};  ///< text unless given
};

struct command_spec {
    std::string usage;     ///< e.g. "qamw codebook --bits K [--json]"
    std::string summary;   ///< one paragraph printed under the usage line
    std::vector<option> options;
    int min_positional = 0, max_positional = 0;
};

namespace cli_detail {

inline std::string range_text(const value_rule& r) {
    switch (r.kind) {
        case value_kind::integer: return "an integer in [" + std::to_string(r.lo) + ", " + std::to_string(r.hi) + "]";
        case value_kind::u64: return "an unsigned 64-bit integer (decimal or 0x hex)";
        case value_kind::number: return "a finite number";
        default: return "text";
    }
}

/// Strict parse; returns the empty string on success, else the reason (for CLI11's validator protocol).
inline std::string check_value(const value_rule& r, const std::string& s) {
    const char* b = s.data();
    const char* e = s.data() + s.size();
    auto bad = [&] { return "expected " + range_text(r) + ", got '" + s + "'"; };
    switch (r.kind) {
        case value_kind::integer: {
            long long v = 0;
            auto res = std::from_chars(b, e, v, 10);
            if (s.empty() || res.ec != std::errc() || res.ptr != e || v < r.lo || v > r.hi) return bad();
            return {};
        }
        case value_kind::u64: {
            unsigned long long v = 0;
            int base = 10;
            if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) b += 2, base = 16;
            auto res = std::from_chars(b, e, v, base);
            if (s.empty() || res.ec != std::errc() || res.ptr != e) return bad();
            return {};
        }
        case value_kind::number: {
            char* end = nullptr;
            double v = std::strtod(s.c_str(), &end);
            if (s.empty() || *end != '\0' || !std::isfinite(v)) return bad();
            return {};
        }
        default: return {};
    }
}

/// Help text laid out as before: our usage line, the summary, then CLI11's option list.
class formatter : public CLI::Formatter {
public:
    explicit formatter(std::string usage) : usage_(std::move(usage)) { column_width(28); }
    std::string make_usage(const CLI::App* app, std::string) const override {
        return "usage: " + usage_ + "\n" + (app->get_description().empty() ? "" : "\n" + app->get_description() + "\n");
    }
    std::string make_description(const CLI::App*) const override { return ""; }

private:
    std::string usage_;
};

}  // namespace cli_detail

/// Parsed command line of one subcommand.
class args {
public:
    std::vector<std::string> positional;

    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const {
        auto it = values_.find(name);
        return it == values_.end() ? fallback : it->second;
    }
    /// An option declared with cli::integer(lo, hi); already range-checked by parse().
    long long get_int(const std::string& name, long long fallback) const {
        expect(name, value_kind::integer);
        if (!has(name)) return fallback;
        return std::stoll(values_.at(name));
    }
    /// An option declared with cli::u64().
    std::uint64_t get_u64(const std::string& name, std::uint64_t fallback) const {
        expect(name, value_kind::u64);
        if (!has(name)) return fallback;
        const std::string& s = values_.at(name);
        const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
        return std::stoull(hex ? s.substr(2) : s, nullptr, hex ? 16 : 10);
    }
    /// An option declared with cli::number().
    double get_double(const std::string& name, double fallback) const {
        expect(name, value_kind::number);
        if (!has(name)) return fallback;
        return std::strtod(values_.at(name).c_str(), nullptr);
    }

    /// Parses argv[first..argc) against `spec`; "--help" and "--json" are always accepted. Throws
    /// qamw::error(errc::invalid_argument) naming the option on anything unknown, repeated, missing or out of range.
    static args parse(int argc, char** argv, int first, const command_spec& spec) {
        args a;
        std::unique_ptr<CLI::App> app = make_app(spec, a);
        std::vector<std::string> argv_rev;  // CLI11 consumes arguments from the back
        for (int i = argc - 1; i >= first; --i) argv_rev.emplace_back(argv[i]);
        try {
            app->parse(argv_rev);
        } catch (const CLI::ParseError& e) {
            throw error(errc::invalid_argument, std::string(e.what()) + " (see --help)");
        }
        for (const auto& [name, opt] : a.opts_)
            if (opt->count() > 0 && !a.values_.count(name)) a.values_[name] = "";  // flags
        a.opts_.clear();  // they point into the app, which ends here
        if (!a.has("help")) {
            int n = static_cast<int>(a.positional.size());
            if (n < spec.min_positional || n > spec.max_positional)
                throw error(errc::invalid_argument, "wrong number of arguments; usage: " + spec.usage);
        }
        return a;
    }

    /// The help text of `spec`, generated from the same declarations parse() uses.
    static std::string help(const command_spec& spec) {
        args a;
        return make_app(spec, a)->help();
    }

private:
    std::map<std::string, std::string> values_;
    std::map<std::string, value_kind> kinds_;
    std::map<std::string, CLI::Option*> opts_;

    void expect(const std::string& name, value_kind k) const {
        auto it = kinds_.find(name);
        if (it == kinds_.end() || it->second != k)
            throw std::logic_error("option --" + name + " is read as " + range_text_kind(k) +
                                   " but not declared as one in its command's option table");
    }
    static std::string range_text_kind(value_kind k) {
        return k == value_kind::integer ? "an integer" : k == value_kind::u64 ? "a u64" : "a number";
    }

    static std::unique_ptr<CLI::App> make_app(const command_spec& spec, args& a) {
        auto app = std::make_unique<CLI::App>(spec.summary);
        app->formatter(std::make_shared<cli_detail::formatter>(spec.usage));
        app->set_help_flag();  // --help is ours, so that the command decides what to print
        app->allow_extras(false);
        bool has_json = false, has_help = false;
        for (const option& o : spec.options) {
            has_json = has_json || o.name == "json";
            has_help = has_help || o.name == "help";
            a.kinds_[o.name] = o.rule.kind;
            CLI::Option* opt;
            if (o.value.empty()) {
                opt = app->add_flag("--" + o.name, o.help);
                opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
            } else {
                const std::string help =
                    o.rule.kind == value_kind::text ? o.help : o.help + " [" + cli_detail::range_text(o.rule) + "]";
                opt = app->add_option_function<std::string>(
                    "--" + o.name, [&a, name = o.name](const std::string& v) { a.values_[name] = v; }, help);
                opt->type_name(o.value);
                if (o.rule.kind != value_kind::text) {
                    const value_rule rule = o.rule;
                    opt->check(CLI::Validator([rule](std::string& s) { return cli_detail::check_value(rule, s); }, ""));
                }
            }
            a.opts_[o.name] = opt;
        }
        if (!has_json) a.opts_["json"] = app->add_flag("--json", "print one JSON object instead of text");
        if (!has_help) a.opts_["help"] = app->add_flag("-h,--help", "print this help");
        if (spec.max_positional > 0)
            app->add_option("args", a.positional, "positional arguments (see usage)")
                ->expected(0, spec.max_positional);
        return app;
    }
};

inline void print_help(const command_spec& spec) { std::printf("%s", args::help(spec).c_str()); }

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
