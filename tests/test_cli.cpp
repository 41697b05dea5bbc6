// Tests of the `qamw` tool's reliability mechanisms (issue 16): the argument parser's ranges, the output-path guard,
// --json with non-finite values, atomic dequantize, signal cleanup of temporary files, container and statistics
// mismatches, the linear-time --include/--exclude matcher and large headers. Most run the built tool (QAMW_EXE).
#include <catch2/catch.hpp>

#include "common/container_checks.hpp"
#include "common/json_out.hpp"
#include "common/output_guard.hpp"
#include "common/pattern.hpp"
#include "eval/act_stats_file.hpp"
#include "run_tool.hpp"
#include "shared_data.hpp"
#include "temp_dir.hpp"

#include <qamw/container.hpp>
#include <qamw/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using qamw::tools::json_out;

namespace {

/// A test's directory; litter(s): the entries whose name contains ".tmp-" (temporary files or directories left behind).
using scratch = qamw::test::temp_dir;
std::vector<std::string> litter(const scratch& s) {
    std::vector<std::string> out;
    for (const auto& name : s.entries())
        if (name.find(".tmp-") != std::string::npos) out.push_back(s / name);
    return out;
}

using qamw::test::quote;
using qamw::test::result;
using qamw::test::run;

/// A small checkpoint: model.safetensors with the given 2-D F32 weights (and config.json).
void write_checkpoint(const std::string& dir, const std::vector<std::pair<std::string, std::vector<float>>>& ws,
                      std::int64_t rows, std::int64_t cols) {
    fs::create_directories(dir);
    qamw::io::safetensors_writer w(dir + "/model.safetensors");
    for (const auto& [name, v] : ws) w.add(name, qamw::io::dtype::f32, {rows, cols});
    w.begin();
    for (const auto& [name, v] : ws) w.write(name, v.data(), v.size() * 4);
    w.commit();
    std::ofstream(dir + "/config.json") << "{\"model_type\": \"llama\"}";
}

std::vector<float> gaussian(std::size_t n, unsigned seed, float scale = 1) {
    std::vector<float> v(n);
    std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (auto& x : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x = scale * (float(s % 2001) / 1000.0f - 1.0f);
    }
    return v;
}

/// Copies the safetensors file `in` to `out`, with metadata changed by `edit` and extra plain F32 tensors.
void rewrite(const std::string& in, const std::string& out,
             const std::function<void(std::vector<std::pair<std::string, std::string>>&)>& edit,
             const std::vector<std::string>& extra_tensors = {}) {
    auto f = qamw::io::safetensors_file::open(in);
    auto meta = f.metadata();
    edit(meta);
    qamw::io::safetensors_writer w(out);
    for (const auto& m : meta) w.set_metadata(m.first, m.second);
    for (const auto& t : f.tensors()) w.add(t.name, t.type, t.shape);
    for (const auto& n : extra_tensors) w.add(n, qamw::io::dtype::f32, {1});
    w.begin();
    for (const auto& t : f.tensors()) {
        auto v = f.view(t);
        w.write(t.name, v.data, v.nbytes);
    }
    float zero = 0;
    for (const auto& n : extra_tensors) w.write(n, &zero, 4);
    w.commit();
}

/// Copies the safetensors file `in` to `out` with one more 4-byte F32 tensor named `name` appended, writing the header
/// text directly (the writer refuses names such as "", as it should).
void append_raw_tensor(const std::string& in, const std::string& out, const std::string& name) {
    std::ifstream f(in, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[std::size_t(i)]);
    std::string header = bytes.substr(8, n), data = bytes.substr(8 + n);
    while (header.back() == ' ') header.pop_back();
    header.pop_back();  // '}'
    header += ",\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(data.size()) +
              "," + std::to_string(data.size() + 4) + "]}}";
    data.append(4, '\0');
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i) len[std::size_t(i)] = char((header.size() >> (8 * i)) & 0xff);
    std::ofstream(out, std::ios::binary) << len << header << data;
}

const std::string W = "model.layers.0.mlp.down_proj.weight";

}  // namespace

TEST_CASE("cli: integer options are range-checked by the parser, never wrapped", "[cli]") {
    scratch s;
    for (const char* bad : {"--bits-per-pair 4294967304", "--bits-per-pair 3", "--block 4294967552", "--block 12abc",
                            "--threads 100000", "--threads -1", "--seed -1", "--bpw nan"}) {
        INFO(bad);
        result r = run("quantize in out " + std::string(bad));
        CHECK(r.status == 1);
        const std::string opt = std::string(bad).substr(0, std::string(bad).find(' '));
        CHECK_THAT(r.out, Catch::Contains(opt + ": expected"));
    }
    result r = run("quantize in out --bits-per-pair 4294967304");
    CHECK_THAT(r.out, Catch::Contains("[4, 12]"));
    r = run("bench --threads 100000");
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("--threads: expected an integer in [1, "));
    r = run("bench --bits 7x --reps 1");
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("--bits: '7x'"));
    r = run("codebook --bits 4 --samples 10 --bits 5");
    CHECK(r.status == 1);
    r = run("inspect --no-such-option x");
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("--no-such-option"));
}

TEST_CASE("cli: every command has --help (from the same declarations) and --json", "[cli]") {
    for (const char* cmd : {"demo", "codebook", "quantize", "dequantize", "inspect", "eval", "stats", "bench"}) {
        INFO(cmd);
        result r = run(std::string(cmd) + " --help");
        CHECK(r.status == 0);
        CHECK_THAT(r.out, Catch::Contains(std::string("usage: qamw ") + cmd));
        CHECK_THAT(r.out, Catch::Contains("--json"));
    }
    result r = run("quantize --help");
    CHECK_THAT(r.out, Catch::Contains("--bits-per-pair"));
    CHECK_THAT(r.out, Catch::Contains("[4, 12]"));
    r = run("codebook --bits 4 --samples 1000 --json");
    REQUIRE(r.status == 0);
    CHECK(nlohmann::json::parse(r.out)[0]["bits"] == 4);
}

TEST_CASE("cli: QAMW_ISA is checked before any work, naming the variable", "[cli]") {
    result r = run("codebook --bits 4 --samples 10", "QAMW_ISA=bogus");
    CHECK(r.status == 2);
    CHECK_THAT(r.out, Catch::Contains("environment variable QAMW_ISA='bogus'"));
    CHECK_THAT(r.out, !Catch::Contains("tensor"));
}

TEST_CASE("cli: pattern matcher agrees with std::regex on its subset and is linear", "[cli]") {
    using qamw::tools::pattern;
    const std::vector<std::string> names = {"model.layers.0.mlp.down_proj.weight", "lm_head.weight", "a", "", "ab",
                                            "aab", "x.y", "model.embed_tokens.weight", "abc123_", "[x]"};
    for (const char* re : {".*", "lm_head\\.weight", ".*mlp.*", "a*b?", "(a|b)+", "(?:ab|a)*b", "[a-c]+\\d+_",
                           "[^.]*", "model\\.layers\\.\\d+\\..*", "\\[x\\]", "x.y", "", "a|", "(a*)*"}) {
        pattern p = pattern::compile(re, "--include");
        std::regex r(re);
        for (const auto& n : names) {
            INFO(re << " on '" << n << "'");
            CHECK(p.matches(n) == std::regex_match(n, r));
        }
    }
    for (const char* bad : {"(.*", "a)", "*a", "a{2}", "^a", "[a", "a\\q", "(?=a)", "a*?"}) {
        INFO(bad);
        CHECK_THROWS_WITH(pattern::compile(bad, "--include"), Catch::Contains("--include '"));
    }
    // Catastrophic for a backtracking matcher (std::regex runs for minutes on the first name): must finish at once here.
    CHECK_FALSE(pattern::compile("(.*)*x", "--include").matches(names[0]));
    CHECK(pattern::compile("(.*)*x", "--include").matches("abcx"));
    pattern p = pattern::compile("(.*)*(.*)*(.*)*x", "--include");
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(p.matches(std::string(5000, 'a')));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("cli: the output guard refuses inputs, devices, FIFOs and directories holding inputs", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 1)}}, 64, 64);
    struct {
        std::string args, expect;
    } cases[] = {
        {"quantize " + quote(m + "/model.safetensors") + " " + quote(m + "/model.safetensors"), "is the input"},
        {"quantize " + quote(m) + " " + quote(m + "/model.safetensors"), "is the input"},
        {"quantize " + quote(m) + " " + quote(m + "/./config.json"), "is the input"},
        {"quantize " + quote(m) + " " + quote(m), "is a directory"},
        {"quantize " + quote(m) + " /dev/null", "is a character device"},
        {"stats " + quote(m) + " --tokens " + quote(m + "/config.json") + " --out " + quote(m + "/model.safetensors"),
         "--out '"},
        {"eval " + quote(m) + " --tokens " + quote(m + "/config.json") + " --save-base " + quote(m + "/config.json"),
         "--save-base '"},
        {"quantize " + quote(m) + " " + quote(s / "missing/out.st"), "parent directory"},
        {"quantize " + quote(m) + " " + quote(s / "x.st") + " --imatrix " + quote(m), "--imatrix '"},
    };
    for (const auto& c : cases) {
        INFO(c.args);
        result r = run(c.args);
        CHECK(r.status == 1);
        CHECK_THAT(r.out, Catch::Contains(c.expect));
    }
    REQUIRE(::mkfifo((s / "fifo").c_str(), 0600) == 0);
    result r = run("quantize " + quote(m) + " " + quote(s / "fifo"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("is a FIFO"));
    struct stat st {};
    REQUIRE(::stat((s / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));  // not replaced

    // dequantize: output directory holding the input
    REQUIRE(run("quantize " + quote(m) + " " + quote(m + "/q.qamw.safetensors")).status == 0);
    r = run("dequantize " + quote(m + "/q.qamw.safetensors") + " " + quote(m));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("contains the input"));
    CHECK(litter(s).empty());
}

TEST_CASE("cli: --json survives NaN (an all-zero weight) and the report never fails after the output", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, std::vector<float>(64 * 64, 0.0f)}, {"model.layers.0.mlp.up_proj.weight", gaussian(64 * 64, 2)}},
                     64, 64);
    result r = run("quantize " + quote(m) + " " + quote(s / "q.st") + " --json");
    REQUIRE(r.status == 0);
    auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    bool saw_null = false;
    for (const auto& t : j["tensors"])
        if (t["name"] == W) saw_null = t["sqnr_db"].is_null();  // relative MSE 0 → SQNR +Inf
    CHECK(saw_null);
    CHECK(fs::exists(s / "q.st"));

    json_out o;
    o["nan"] = std::nan("");
    o["inf"] = INFINITY;
    o["bad_utf8"] = std::string("\xff\xfe");
    CHECK(qamw::tools::dump_json(o).find("\"nan\": null") != std::string::npos);
}

TEST_CASE("cli: quantize --codebook d8 writes d8 tensors that inspect names; other k, allocation and specs refused",
          "[cli][d8]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 3)}}, 64, 64);
    result r = run("quantize " + quote(m) + " " + quote(s / "q.st") + " --bits-per-pair 11 --codebook d8 --json");
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("norm,fwht:256,d8:11,pack"));
    r = run("inspect " + quote(s / "q.st"));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("d8-k11"));
    const auto c = qamw::container::open(s / "q.st", true);
    CHECK(c.version() == 3);
    CHECK(c.view(W).family == qamw::codebook_family::d8);
    r = run("quantize " + quote(m) + " " + quote(s / "p.st") + " --pipeline norm,fwht:128,d8:10,pack");
    CHECK(r.status == 0);
    CHECK(qamw::container::open(s / "p.st").meta(W).at("codebook").as_string() == "d8-k10");

    const std::pair<std::string, std::string> refused[] = {
        {"--bits-per-pair 8 --codebook d8", "--codebook d8: codebook d8 exists for k = 9, 10, 11 (not k = 8)"},
        {"--bpw 4.75 --calib x --codebook d8", "--codebook d8 needs one k for every tensor"},
        {"--codebook d4", "--codebook: unknown codebook family 'd4' (known: lm2d, d8)"},
        {"--pipeline norm,fwht,d8:11,pack --codebook d8", "--codebook: the pipeline spec names the codebook"},
        {"--pipeline norm,fwht,d8:12,pack", "codebook d8 exists for k = 9, 10, 11"}};
    for (const auto& [args, message] : refused) {
        INFO(args);
        r = run("quantize " + quote(m) + " " + quote(s / "x.st") + " " + args);
        CHECK(r.status != 0);
        CHECK_THAT(r.out, Catch::Contains(message));
        CHECK(!fs::exists(s / "x.st"));
    }
    r = run("bench --codebook d8 --bits 8 --shapes 64x64 --reps 1");
    CHECK(r.status != 0);
    CHECK_THAT(r.out, Catch::Contains("--codebook d8: codebook d8 exists for k = 9, 10, 11"));
    r = run("codebook --codebook d8 --bits 9 --samples 1000 --json");
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(r.out.substr(r.out.find('[')));
    REQUIRE(j.size() == 1);
    CHECK(j[0]["codebook"] == "d8");
    CHECK(j[0]["id"] == "d8-k9");
    CHECK(j[0]["points"] == 512);
    r = run("codebook --codebook d8 --samples 1000");  // every k of the family
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("d8") && Catch::Contains(" 2048 "));
    r = run("codebook --codebook d8 --bits 12 --samples 1000");
    CHECK(r.status != 0);
    CHECK_THAT(r.out, Catch::Contains("codebook d8 exists for k = 9, 10, 11"));
}

TEST_CASE("cli: dequantize is atomic, validates first and never mixes runs", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 3)}}, 64, 64);
    const std::string q = s / "q.st";
    REQUIRE(run("quantize " + quote(m) + " " + quote(q)).status == 0);

    // A bad embedded file: nothing is written, inspect refuses it too.
    const std::string bad = s / "bad.st";
    rewrite(q, bad, [](auto& meta) { meta.emplace_back("qamw.file.tokenizer.json", "!!not base64!!"); });
    result r = run("dequantize " + quote(bad) + " " + quote(s / "out"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("tokenizer.json"));
    CHECK_FALSE(fs::exists(s / "out"));
    CHECK(litter(s).empty());
    r = run("inspect " + quote(bad));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("tokenizer.json"));

    const std::string badname = s / "badname.st";
    rewrite(q, badname, [](auto& meta) { meta.emplace_back("qamw.file..hidden", "YQ=="); });
    CHECK(run("inspect " + quote(badname)).status == 1);

    // A good run, then a second run onto the same directory is refused (no mixing).
    REQUIRE(run("dequantize " + quote(q) + " " + quote(s / "out")).status == 0);
    CHECK(fs::exists(s / "out/model.safetensors"));
    CHECK(fs::exists(s / "out/config.json"));
    r = run("dequantize " + quote(q) + " " + quote(s / "out"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("already exists"));
    CHECK(litter(s).empty());
}

TEST_CASE("cli: dequantize --dtype f16 refuses values beyond the f16 range unless --saturate", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 4, 1e6f)}}, 64, 64);
    const std::string q = s / "q.st";
    REQUIRE(run("quantize " + quote(m) + " " + quote(q)).status == 0);
    result r = run("dequantize " + quote(q) + " " + quote(s / "h") + " --dtype f16");
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("tensor '" + W + "'") && Catch::Contains("F16"));
    CHECK_FALSE(fs::exists(s / "h"));
    r = run("dequantize " + quote(q) + " " + quote(s / "h") + " --dtype f16 --saturate --json");
    REQUIRE(r.status == 0);
    auto ck = qamw::io::checkpoint::open(s / "h");
    auto v = qamw::io::to_f32(ck.view(W));
    for (float x : v) REQUIRE(std::isfinite(x));
    REQUIRE(run("dequantize " + quote(q) + " " + quote(s / "f") + " --dtype f32").status == 0);
    CHECK(litter(s).empty());
}

TEST_CASE("cli: container mismatches are refused by inspect and dequantize", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 5)}}, 64, 64);
    const std::string q = s / "q.st";
    REQUIRE(run("quantize " + quote(m) + " " + quote(q)).status == 0);
    auto edit_meta = [&](const std::string& from, const std::string& to) {
        return [from, to](std::vector<std::pair<std::string, std::string>>& meta) {
            for (auto& kv : meta)
                if (kv.first == "qamw:" + W) {
                    auto p = kv.second.find(from);
                    REQUIRE(p != std::string::npos);
                    kv.second.replace(p, from.size(), to);
                }
        };
    };
    struct {
        std::string file, expect;
        std::function<void(std::vector<std::pair<std::string, std::string>>&)> edit;
        std::vector<std::string> extra;
    } cases[] = {
        {"nodtype.st", "missing key 'source_dtype'", edit_meta("\"source_dtype\"", "\"source_dtypx\""), {}},
        {"baddtype.st", "source_dtype 'F64' is not F32, F16 or BF16", edit_meta("\"F32\"", "\"F64\""), {}},
        {"dup.st", "a plain tensor has the name of a quantized tensor", [](auto&) {}, {W}},
    };
    for (const auto& c : cases) {
        INFO(c.file);
        rewrite(q, s / c.file, c.edit, c.extra);
        result r = run("inspect " + quote(s / c.file));
        CHECK(r.status == 1);
        CHECK_THAT(r.out, Catch::Contains(c.expect));
        CHECK_THAT(r.out, Catch::Contains(c.file));
        r = run("dequantize " + quote(s / c.file) + " " + quote(s / "out"));
        CHECK(r.status == 1);
        CHECK_FALSE(fs::exists(s / "out"));
    }
    append_raw_tensor(q, s / "empty.st", "");
    result r = run("inspect " + quote(s / "empty.st"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("empty name"));
}

TEST_CASE("cli: activation statistics that match no weight are refused", "[cli]") {
    scratch s;
    const std::string m = s / "model";
    write_checkpoint(m, {{W, gaussian(64 * 64, 6)}}, 64, 64);
    qamw::eval::act_stats st;
    qamw::eval::channel_stats c;
    c.mean_abs.assign(64, 1.0f), c.mean_sq.assign(64, 1.0f), c.tokens = 10;
    st.layers.emplace_back("model.layers.9.mlp.down_proj.weight", c);
    qamw::eval::write_act_stats(s / "other.st", st);
    result r = run("quantize " + quote(m) + " " + quote(s / "q.st") + " --act-stats " + quote(s / "other.st"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("name no 2-D weight") && Catch::Contains("model.layers.9"));
    CHECK_FALSE(fs::exists(s / "q.st"));
    st.layers[0].first = W;
    st.layers[0].second.mean_abs.resize(32), st.layers[0].second.mean_sq.resize(32);
    qamw::eval::write_act_stats(s / "narrow.st", st);
    r = run("quantize " + quote(m) + " " + quote(s / "q.st") + " --act-stats " + quote(s / "narrow.st"));
    CHECK(r.status == 1);
    CHECK_THAT(r.out, Catch::Contains("32 channels"));
    st.layers[0].second = c;
    qamw::eval::write_act_stats(s / "good.st", st);
    CHECK(run("quantize " + quote(m) + " " + quote(s / "q.st") + " --act-stats " + quote(s / "good.st")).status == 0);
}

TEST_CASE("cli: stats of a quantized container (sequential calibration) are those of its inputs, and feed --feedback",
          "[cli][shared]") {
    qamw::test::require_shared({"models/stories260K/model.safetensors", "data/tokens/tinystories-valid.tok512.i32"});
    scratch s;
    const std::string m = qamw::test::shared_dir + "/models/stories260K",
                      t = quote(qamw::test::shared_dir + "/data/tokens/tinystories-valid.tok512.i32");
    const std::string common = " --tokens " + t + " --ctx 64 --max-tokens 512 --second-moments --threads 2";
    REQUIRE(run("stats " + quote(m) + " --out " + quote(s / "f32.st") + common).status == 0);
    REQUIRE(run("quantize " + quote(m) + " " + quote(s / "q.st") + " --bits-per-pair 4").status == 0);
    result r = run("stats " + quote(s / "q.st") + " --out " + quote(s / "seq.st") + common);
    REQUIRE(r.status == 0);
    const qamw::eval::act_stats a = qamw::eval::read_act_stats(s / "f32.st"), b = qamw::eval::read_act_stats(s / "seq.st");
    REQUIRE(a.layers.size() == b.layers.size());
    // layer 0's q/k/v read the (unquantized) embedding: same input; o_proj reads the quantized attention's output
    const std::string q0 = "model.layers.0.self_attn.q_proj.weight", o0 = "model.layers.0.self_attn.o_proj.weight";
    REQUIRE((a.find(q0) && b.find(q0) && a.find(o0) && b.find(o0)));
    CHECK(a.find(q0)->mean_sq == b.find(q0)->mean_sq);
    CHECK(a.find(o0)->mean_sq != b.find(o0)->mean_sq);
    r = run("quantize " + quote(m) + " " + quote(s / "fb.st") + " --bits-per-pair 4 --act-stats " + quote(s / "seq.st") +
            " --feedback");
    CHECK(r.status == 0);
    CHECK(fs::exists(s / "fb.st"));
}

TEST_CASE("io: a 50k-entry statistics file is written and read (indexed metadata, no quadratic lookups)", "[cli]") {
    scratch s;
    qamw::eval::act_stats st;
    for (int i = 0; i < 25000; ++i) {
        qamw::eval::channel_stats c;
        c.mean_abs = {1.0f}, c.mean_sq = {1.0f}, c.tokens = 1;
        st.layers.emplace_back("model.layers." + std::to_string(i) + ".mlp.down_proj.weight", std::move(c));
    }
    qamw::eval::write_act_stats(s / "big.st", st);
    auto back = qamw::eval::read_act_stats(s / "big.st");
    REQUIRE(back.layers.size() == 25000);
    auto f = qamw::io::safetensors_file::open(s / "big.st");
    CHECK(f.tensors().size() == 50000);
    REQUIRE(f.find_metadata("model.layers.24999.mlp.down_proj.weight.tokens"));
    CHECK(*f.find_metadata("model.layers.24999.mlp.down_proj.weight.tokens") == "1");
    CHECK_FALSE(f.find_metadata("model.layers.25000.mlp.down_proj.weight.tokens"));
}

namespace {
/// Starts `qamw ARGS...` directly, waits `delay`, sends `sig`, returns the raw wait status.
int run_and_signal(const std::vector<std::string>& args, std::chrono::milliseconds delay, int sig) {
#ifdef QAMW_EXE
    pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv{const_cast<char*>(QAMW_EXE)};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1), ::dup2(null, 2);
        ::execv(QAMW_EXE, argv.data());
        ::_exit(127);
    }
    std::this_thread::sleep_for(delay);
    ::kill(pid, sig);
    int st = 0;
    ::waitpid(pid, &st, 0);
    return st;
#else
    (void)args, (void)delay, (void)sig;
    return -1;
#endif
}
}  // namespace

TEST_CASE("cli: SIGINT, SIGTERM and SIGHUP leave no temporary files and end with the signal", "[cli][slow]") {
    const std::string house = std::string(QAMW_SHARED_DIR) + "/models/house-a";
    const std::string calib = std::string(QAMW_SHARED_DIR) + "/data/tokens/calib-gutenberg.llama2sp.i32";
    if (!fs::exists(house + "/model.safetensors") || !fs::exists(calib)) std::exit(4);  // skipped: ../shared absent
    scratch s;
    // A container to dequantize, made once.
    REQUIRE(run("quantize " + quote(house) + " " + quote(s / "h.st")).status == 0);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        for (int delay_ms : {150, 400}) {
            INFO("signal " << sig << " after " << delay_ms << " ms");
            int st = run_and_signal({"quantize", house, s / "out.st", "--threads", "1"},
                                    std::chrono::milliseconds(delay_ms), sig);
            if (WIFSIGNALED(st)) CHECK(WTERMSIG(st) == sig);
            else CHECK(WEXITSTATUS(st) == 0);  // finished before the signal (a fast machine)
            CHECK(litter(s).empty());
            fs::remove(s / "out.st");
            st = run_and_signal({"dequantize", s / "h.st", s / "dq", "--threads", "1"},
                                std::chrono::milliseconds(delay_ms), sig);
            if (WIFSIGNALED(st)) CHECK(WTERMSIG(st) == sig);
            else CHECK(WEXITSTATUS(st) == 0);
            // OUT appears complete (renamed into place as a whole; the signal may land between that and the exit)
            // or not at all.
            if (fs::exists(s / "dq")) {
                CHECK(fs::exists(fs::path(s / "dq") / "config.json"));
                CHECK_NOTHROW(qamw::io::safetensors_file::open((fs::path(s / "dq") / "model.safetensors").string()));
            }
            CHECK(litter(s).empty());
            fs::remove_all(s / "dq");
            // stats: the output and the scratch file of the hidden states between layers
            st = run_and_signal({"stats", house, "--tokens", calib, "--out", s / "stats.st", "--second-moments",
                                 "--max-tokens", "4096", "--threads", "1"},
                                std::chrono::milliseconds(delay_ms), sig);
            if (WIFSIGNALED(st)) CHECK(WTERMSIG(st) == sig);
            else CHECK(WEXITSTATUS(st) == 0);
            if (fs::exists(s / "stats.st")) CHECK_NOTHROW(qamw::eval::read_act_stats(s / "stats.st"));
            CHECK(litter(s).empty());
            fs::remove(s / "stats.st");
        }
    }
}
