// Tests of bit allocation under a bits-per-weight budget (issue 15): the knapsack solvers (tools/common/allocation.hpp)
// against brute force and the budget, the two-reference sensitivity model, the forward passes that start at a cached
// layer, the sensitivity cache file (tools/common/sensitivity.hpp) and its checks, and `qamw quantize --bpw R --calib`
// on the vendored stories260K.
#include <catch2/catch.hpp>

#include "common/allocation.hpp"
#include "common/sensitivity.hpp"
#include "run_tool.hpp"
#include "shared_data.hpp"
#include "temp_dir.hpp"

#include <qamw/container.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <random>
#include <set>

using namespace qamw;
using namespace qamw::tools;

namespace {

/// The JSON object of a command's output (the progress lines on stderr come first).
nlohmann::json json_of(const std::string& out) { return nlohmann::json::parse(out.substr(out.find('{'))); }

const std::string model_dir = std::string(QAMW_SOURCE_DIR) + "/examples/data/stories260K";

/// n tensors of random Llama-like shapes with the true bit costs of the codec and a loss σ · 2^(−k) · (1 + noise):
/// distortion falls about 4× per step of k, as the codebooks' does.
std::vector<alloc_item> synthetic(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    const std::int64_t dims[] = {64, 96, 172, 256, 512};
    std::vector<alloc_item> items(n);
    for (std::size_t t = 0; t < n; ++t) {
        alloc_item& it = items[t];
        it.name = "t" + std::to_string(t);
        const std::int64_t rows = dims[rng() % 5], cols = dims[rng() % 5];
        const bool scaled = rng() % 2;
        it.weights = rows * cols;
        const double sigma = std::ldexp(1.0, int(rng() % 12));
        for (int k = min_bits; k <= max_bits; ++k) {
            it.bits[std::size_t(k - min_bits)] = stored_bits(rows, cols, k, 256, scaled);
            it.loss[std::size_t(k - min_bits)] = sigma * std::exp2(-k) * (1 + 0.3 * double(rng() % 1000) / 1000);
        }
    }
    return items;
}

/// The least Σ loss over all 9^n choices with Σ bits ≤ budget.
double brute_force(const std::vector<alloc_item>& items, std::uint64_t budget) {
    double best = INFINITY;
    std::vector<int> c(items.size(), 0);
    for (;;) {
        std::uint64_t b = 0;
        double l = 0;
        for (std::size_t t = 0; t < items.size(); ++t) b += items[t].bits[std::size_t(c[t])], l += items[t].loss[std::size_t(c[t])];
        if (b <= budget) best = std::min(best, l);
        std::size_t t = 0;
        while (t < c.size() && ++c[t] == alloc_choices) c[t++] = 0;
        if (t == c.size()) return best;
    }
}

/// No single tensor can move to another k that lowers its loss and still fits the budget.
void require_no_affordable_upgrade(const std::vector<alloc_item>& items, const allocation& a, std::uint64_t budget) {
    for (std::size_t t = 0; t < items.size(); ++t) {
        const std::size_t c0 = std::size_t(a.k[t] - min_bits);
        for (std::size_t c = 0; c < std::size_t(alloc_choices); ++c) {
            if (items[t].loss[c] >= items[t].loss[c0]) continue;
            INFO("tensor " << t << " k " << a.k[t] << " -> " << min_bits + int(c));
            REQUIRE(a.bits - items[t].bits[c0] + items[t].bits[c] > budget);
        }
    }
}

}  // namespace

TEST_CASE("allocation: exact on small cases (brute force over every choice)", "[allocation]") {
    for (std::uint32_t seed = 1; seed <= 4; ++seed) {
        const std::vector<alloc_item> items = synthetic(4, seed);
        for (double rate : {2.7, 3.0, 3.85, 4.25, 5.0, 5.9}) {
            const std::uint64_t budget = budget_bits(items, rate);
            const allocation a = allocate_bits(items, budget);
            INFO("seed " << seed << " rate " << rate);
            REQUIRE(a.exact);
            REQUIRE(a.bits <= budget);
            REQUIRE(a.loss == Approx(brute_force(items, budget)).epsilon(1e-12));
        }
    }
}

TEST_CASE("allocation: meets the budget, spends it, and is deterministic", "[allocation]") {
    const std::vector<alloc_item> items = synthetic(24, 7);
    for (double rate : {2.5, 3.75, 3.85, 4.25, 4.8, 5.0}) {
        const std::uint64_t budget = budget_bits(items, rate);
        const allocation a = allocate_bits(items, budget);
        INFO("rate " << rate);
        REQUIRE(a.exact);
        REQUIRE(a.bits <= budget);
        REQUIRE(a.bpw() <= rate);
        REQUIRE(a.bpw() > rate - 0.02);  // 24 tensors: the smallest step of one tensor is far below 0.02 bpw
        std::set<int> ks(a.k.begin(), a.k.end());
        REQUIRE(ks.size() > 1);           // a non-uniform rate is met by mixing k
        require_no_affordable_upgrade(items, a, budget);
        const allocation b = allocate_bits(items, budget);
        REQUIRE(a.k == b.k);
        REQUIRE(a.loss == b.loss);
        // the Lagrangian solver (forced: no table memory) also fits, leaves nothing affordable, and is no better
        const allocation l = allocate_bits(items, budget, 0);
        REQUIRE_FALSE(l.exact);
        REQUIRE(l.bits <= budget);
        REQUIRE(l.loss >= a.loss * (1 - 1e-12));
        require_no_affordable_upgrade(items, l, budget);
        REQUIRE(allocate_bits(items, budget, 0).k == l.k);
    }
}

TEST_CASE("allocation: rates outside [2, 6] and unreachable budgets are refused", "[allocation]") {
    const std::vector<alloc_item> items = synthetic(5, 3);
    for (double r : {1.99, 6.01, -1.0, double(NAN)}) {
        INFO(r);
        REQUIRE_THROWS_WITH(budget_bits(items, r), Catch::Contains("--bpw") && Catch::Contains("[2, 6]"));
    }
    // 2.0 bits per weight is below every tensor's cheapest rate (k = 4 plus its side information)
    REQUIRE_THROWS_WITH(allocate_bits(items, budget_bits(items, 2.0)), Catch::Contains("smallest achievable rate"));
    std::vector<alloc_item> bad = items;
    bad[2].loss[3] = NAN;
    REQUIRE_THROWS_WITH(allocate_bits(bad, budget_bits(bad, 4)), Catch::Contains("'t2'") && Catch::Contains("k = 7"));
    REQUIRE_THROWS_WITH(allocate_bits({}, 0), Catch::Contains("no tensors"));
}

TEST_CASE("allocation: sensitivity files that are missing, malformed or measured for another run are refused",
          "[allocation]") {
    qamw::test::temp_dir dir("qamw_alloc");
    const io::checkpoint ck = io::checkpoint::open(model_dir);
    sensitivity_table s;
    s.block = 256;
    s.seed = 42;
    s.calib_hash = "00000000000000aa";
    for (const std::string& n : ck.names())
        if (is_quantized_tensor(*ck.find(n), n, selection{})) {
            tensor_sensitivity t;
            t.name = n;
            t.rows = ck.find(n)->shape[0];
            t.cols = ck.find(n)->shape[1];
            t.kld = {2e-3, 1e-3};
            t.sensitivity = {0.6, 0.5};
            for (int c = 0; c < alloc_choices; ++c) t.distortion[std::size_t(c)] = std::exp2(-4 - c);
            s.tensors.push_back(t);
        }
    const std::string path = dir / "s.json";
    write_sensitivity(path, s);
    const sensitivity_table r = read_sensitivity(path);
    REQUIRE(to_json(r).dump() == to_json(s).dump());
    check_sensitivity(r, path, ck, selection{}, s);  // the same run: accepted

    REQUIRE_THROWS_WITH(read_sensitivity(dir / "missing.json"), Catch::Contains("missing.json"));
    std::ofstream(dir / "bad.json") << "{\"format\": \"qamw-sensitivity\", \"version\": 1";
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "bad.json"), Catch::Contains("bad.json"));
    std::ofstream(dir / "other.json") << "{\"format\": \"other\"}";
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "other.json"), Catch::Contains("other.json") && Catch::Contains("qamw-sensitivity"));
    sensitivity_table negative = s;
    negative.tensors[0].sensitivity[1] = -1;
    write_sensitivity(dir / "negative.json", negative);
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "negative.json"), Catch::Contains("negative.json") && Catch::Contains(s.tensors[0].name));

    auto refused = [&](sensitivity_table expected, const std::string& rule) {
        REQUIRE_THROWS_WITH(check_sensitivity(r, path, ck, selection{}, expected),
                            Catch::Contains("--sensitivity " + path) && Catch::Contains(rule));
    };
    sensitivity_table e = s;
    e.calib_hash = "00000000000000ab";
    refused(e, "other calibration tokens");
    e = s, e.stats_hash = "0000000000000001";
    refused(e, "without --act-stats");
    e = s, e.windows = 3;
    refused(e, "windows");
    e = s, e.seed = 43;
    refused(e, "seed");
    e = s, e.reference_bits = {8};
    refused(e, "reference k");

    // version 1 (one reference k, scalar kld and sensitivity) is refused, naming the file and what to do
    const nlohmann::json v2 = nlohmann::json::parse(to_json(s).dump());
    nlohmann::json v1 = v2;
    v1["version"] = 1;
    v1["reference_bits"] = 8;
    for (auto& t : v1["tensors"]) t["kld"] = 1e-3, t["sensitivity"] = 0.5;
    std::ofstream(dir / "v1.json") << v1.dump(1);
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "v1.json"),
                        Catch::Contains("v1.json") && Catch::Contains("version 1") && Catch::Contains("measure it again"));
    // version 2 with per-reference arrays that do not match its reference k's, or reference k's out of order
    nlohmann::json short_kld = v2;
    short_kld["tensors"][1]["kld"] = nlohmann::json::array({1e-3});
    std::ofstream(dir / "short.json") << short_kld.dump(1);
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "short.json"),
                        Catch::Contains("short.json") && Catch::Contains(s.tensors[1].name) && Catch::Contains("reference k"));
    nlohmann::json unordered = v2;
    unordered["reference_bits"] = nlohmann::json::array({8, 6});
    std::ofstream(dir / "unordered.json") << unordered.dump(1);
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "unordered.json"), Catch::Contains("unordered.json") && Catch::Contains("increasing"));
    nlohmann::json overflow = v2;  // finite numbers whose predicted loss σ(k) · D(k) is not
    overflow["tensors"][0]["sensitivity"] = nlohmann::json::array({1e300, 1e300});
    overflow["tensors"][0]["distortion"] = std::vector<double>(alloc_choices, 1e300);
    std::ofstream(dir / "overflow.json") << overflow.dump(1);
    REQUIRE_THROWS_WITH(read_sensitivity(dir / "overflow.json"), Catch::Contains("overflow.json") && Catch::Contains("overflows"));
    selection fewer;
    fewer.exclude = ".*down_proj.*";
    REQUIRE_THROWS_WITH(check_sensitivity(r, path, ck, fewer, s), Catch::Contains(path) && Catch::Contains("tensors"));
}

TEST_CASE("allocation: sigma is measured at the references and a power law in D through the two nearest elsewhere",
          "[allocation]") {
    sensitivity_table s;
    s.reference_bits = {6, 8};
    tensor_sensitivity t;
    t.sensitivity = {0.9, 0.5};
    for (int c = 0; c < alloc_choices; ++c) t.distortion[std::size_t(c)] = std::exp2(-2.0 * c);  // D(k) = 4^(4 − k)
    REQUIRE(s.sigma(t, 6) == 0.9);
    REQUIRE(s.sigma(t, 8) == 0.5);
    // log σ linear in log D: halfway at k = 7, one step of the references below at k = 4, three above at k = 12
    REQUIRE(s.sigma(t, 7) == Approx(std::sqrt(0.9 * 0.5)).epsilon(1e-13));
    REQUIRE(s.sigma(t, 4) == Approx(0.9 * 0.9 / 0.5).epsilon(1e-13));
    REQUIRE(s.sigma(t, 12) == Approx(0.9 * std::pow(0.5 / 0.9, 3)).epsilon(1e-13));
    for (int k = min_bits; k <= max_bits; ++k) REQUIRE(s.predicted(t, k) == s.sigma(t, k) * t.d(k));
    t.distortion[3] = t.distortion[2] / 2;  // D(7) = D(6) / 2 = D(6) · (D(8) / D(6))^(1/4): a quarter of the way
    REQUIRE(s.sigma(t, 7) == Approx(0.9 * std::pow(0.5 / 0.9, 0.25)).epsilon(1e-13));
    // no power law through a σ of 0 or a D that does not fall: the σ of the nearest reference (the lower on a tie)
    t.distortion[4] = t.distortion[2];
    REQUIRE(s.sigma(t, 7) == 0.9);
    REQUIRE(s.sigma(t, 10) == 0.5);
    for (int c = 0; c < alloc_choices; ++c) t.distortion[std::size_t(c)] = std::exp2(-2.0 * c);
    t.sensitivity = {0.0, 0.5};
    REQUIRE(s.sigma(t, 5) == 0.0);
    REQUIRE(s.sigma(t, 9) == 0.5);
    s.reference_bits = {8};  // one reference: σ constant, the quadratic model
    t.sensitivity = {0.5};
    for (int k = min_bits; k <= max_bits; ++k) REQUIRE(s.sigma(t, k) == 0.5);
    s.reference_bits = {5, 7, 9};  // three: the enclosing pair, or the first or last pair outside them
    t.sensitivity = {1.0, 0.8, 0.4};
    REQUIRE(s.sigma(t, 6) == Approx(std::sqrt(0.8)).epsilon(1e-13));
    REQUIRE(s.sigma(t, 7) == 0.8);
    REQUIRE(s.sigma(t, 8) == Approx(0.8 * std::sqrt(0.5)).epsilon(1e-13));
    REQUIRE(s.sigma(t, 4) == Approx(1 / std::sqrt(0.8)).epsilon(1e-13));
    REQUIRE(s.sigma(t, 11) == Approx(0.8 * 0.25).epsilon(1e-13));
}

TEST_CASE("allocation: a pass started at a cached layer gives the whole pass's KLD, bit for bit (stories260K)",
          "[allocation][shared]") {
    qamw::test::require_shared({"data/tokens/tinystories-valid.tok512.i32"});
    const std::vector<std::int32_t> tokens =
        eval::read_tokens(qamw::test::shared_dir + "/data/tokens/tinystories-valid.tok512.i32");
    eval::llama_checkpoint m = eval::llama_checkpoint::open(model_dir);
    eval::checkpoint_source src(m.ckpt);
    std::map<std::string, injectable_linear*> slots;
    const eval::llama_model model = injectable_model(m.config, src, slots);
    eval::eval_options eo;
    eo.n_ctx = 128;
    eo.max_windows = 3;
    eo.threads = 2;
    eo.save_base = true;
    layer_state_cache states(model, tokens, eo.n_ctx, eo.max_windows);
    const eval::eval_result kept = eval::evaluate_perplexity(model, tokens, eo, states.keep());
    REQUIRE(eval::serialize_kld_base(kept.base) == eval::serialize_kld_base(eval::evaluate_perplexity(model, tokens, eo).base));
    eo.save_base = false;
    eo.compare = &kept.base;
    for (const std::string name : {"model.layers.3.mlp.down_proj.weight", "model.layers.0.self_attn.q_proj.weight"}) {
        INFO(name);
        const std::vector<float> w = io::to_f32(m.ckpt.view(name));
        const std::int64_t rows = m.ckpt.find(name)->shape[0], cols = m.ckpt.find(name)->shape[1];
        params p;
        p.bits = 5;
        slots.at(name)->inject(std::make_unique<eval::dense_linear>(decode(encode(w.data(), rows, cols, p)), rows, cols));
        const eval::eval_result whole = eval::evaluate_perplexity(model, tokens, eo);
        const eval::eval_result staged = eval::evaluate_perplexity(model, tokens, eo, states.from(layer_of(name)));
        slots.at(name)->inject(nullptr);
        REQUIRE(whole.kld->mean > 0);
        REQUIRE(staged.kld->mean == whole.kld->mean);
        REQUIRE(staged.kld->per_position == whole.kld->per_position);
        REQUIRE(staged.nll_per_position == whole.nll_per_position);
    }
    REQUIRE(layer_of("model.layers.3.mlp.down_proj.weight") == 3);
    REQUIRE(layer_of("model.layers.12.self_attn.o_proj.weight") == 12);
    for (const char* other : {"model.embed_tokens.weight", "lm_head.weight", "model.layers..x", "model.layers.3"})
        REQUIRE(layer_of(other) == -1);
}

TEST_CASE("cli: quantize --bpw 3.85 allocates k per tensor on stories260K, meets the rate, same bytes on 1 and 2 threads",
          "[allocation][cli][shared]") {
    qamw::test::require_shared({"data/tokens/tinystories-valid.tok512.i32"});
    using qamw::test::quote;
    using qamw::test::run;
    qamw::test::temp_dir dir("qamw_alloc_cli");
    const std::string tokens = qamw::test::shared_dir + "/data/tokens/tinystories-valid.tok512.i32";
    const std::string opts = " --calib " + quote(tokens) + " --ctx 256 --calib-windows 2 --sensitivity " +
                             quote(dir / "s.json") + " --threads 2 --json --bpw 3.85";
    const auto r = run("quantize " + quote(model_dir) + " " + quote(dir / "a.qamw.safetensors") + opts);
    INFO(r.out);
    REQUIRE(r.status == 0);
    const nlohmann::json j = json_of(r.out);
    const double bpw = j["bpw_quantized"].get<double>();
    REQUIRE(bpw <= 3.85);
    REQUIRE(bpw > 3.80);
    REQUIRE(j["allocation"]["planned_bpw"].get<double>() == Approx(bpw).epsilon(1e-12));
    REQUIRE_FALSE(j["allocation"]["sensitivity_cached"].get<bool>());
    REQUIRE(j["allocation"]["reference_k"] == nlohmann::json::array({6, 8}));

    const container c = container::open(dir / "a.qamw.safetensors", true);
    std::set<int> ks;
    for (const auto& t : j["tensors"]) {
        if (!t["quantized"].get<bool>()) continue;
        const std::string name = t["name"];
        const int k = int(c.meta(name).at("bits").as_int());
        REQUIRE(k == t["bits_per_pair"].get<int>());
        REQUIRE(c.meta(name).at("allocation").at("budget_bpw").as_double() == 3.85);
        REQUIRE(c.meta(name).at("allocation").at("predicted_kld").as_double() ==
                Approx(t["predicted_kld"].get<double>()).epsilon(1e-12));
        ks.insert(k);
    }
    REQUIRE(ks.size() > 1);

    // the cache is reused and gives the same container, byte for byte
    const auto again = run("quantize " + quote(model_dir) + " " + quote(dir / "b.qamw.safetensors") + opts);
    REQUIRE(again.status == 0);
    REQUIRE(json_of(again.out)["allocation"]["sensitivity_cached"].get<bool>());
    auto bytes = [](const std::string& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    REQUIRE(bytes(dir / "a.qamw.safetensors") == bytes(dir / "b.qamw.safetensors"));
    // a fresh measurement on one thread writes the same sensitivity file and container
    const auto one = run("quantize " + quote(model_dir) + " " + quote(dir / "t1.qamw.safetensors") + " --calib " +
                         quote(tokens) + " --ctx 256 --calib-windows 2 --sensitivity " + quote(dir / "s1.json") +
                         " --threads 1 --json --bpw 3.85");
    REQUIRE(one.status == 0);
    REQUIRE_FALSE(json_of(one.out)["allocation"]["sensitivity_cached"].get<bool>());
    REQUIRE(bytes(dir / "s1.json") == bytes(dir / "s.json"));
    REQUIRE(bytes(dir / "t1.qamw.safetensors") == bytes(dir / "a.qamw.safetensors"));

    // inspect and eval read the mixed-k container
    const auto ins = run("inspect " + quote(dir / "a.qamw.safetensors") + " --json");
    REQUIRE(ins.status == 0);
    const auto ev = run("eval " + quote(dir / "a.qamw.safetensors") + " --tokens " + quote(tokens) +
                        " --ctx 256 --windows 2 --json");
    INFO(ev.out);
    REQUIRE(ev.status == 0);
    REQUIRE(json_of(ev.out)["linear_bpw"].get<double>() == Approx(bpw).epsilon(1e-9));

    // with --feedback σ is measured at k = 8 alone (the quadratic model)
    const auto st = run("stats " + quote(model_dir) + " --tokens " + quote(tokens) + " --ctx 256 --max-tokens 512 " +
                        "--second-moments --threads 2 --out " + quote(dir / "st.safetensors"));
    REQUIRE(st.status == 0);
    // --bpw 3.85 with the statistics, into `out` with the cache `cache`, plus `extra` options
    auto with_stats = [&](const std::string& out, const std::string& cache, const std::string& extra) {
        return run("quantize " + quote(model_dir) + " " + quote(dir / out) + " --calib " + quote(tokens) +
                   " --ctx 256 --calib-windows 2 --act-stats " + quote(dir / "st.safetensors") + " --sensitivity " +
                   quote(dir / cache) + extra + " --threads 2 --json --bpw 3.85");
    };
    const auto fb = with_stats("f.qamw.safetensors", "sf.json", " --feedback");
    INFO(fb.out);
    REQUIRE(fb.status == 0);
    const nlohmann::json jf = json_of(fb.out);
    REQUIRE(jf["allocation"]["reference_k"] == nlohmann::json::array({8}));
    // and with the α of the table, searched at k = 8 (not again at the allocated k)
    const sensitivity_table ftable = read_sensitivity(dir / "sf.json");
    REQUIRE(jf["awq"].size() == ftable.alphas.size());
    for (std::size_t g = 0; g < ftable.alphas.size(); ++g) {
        REQUIRE(jf["awq"][g]["group"].get<std::string>() == ftable.alphas[g].first);
        REQUIRE(jf["awq"][g]["alpha"].get<double>() == ftable.alphas[g].second);
    }

    // AWQ alone: each scaled group's α is searched again with its members at their allocated k, among α > 0 (so the
    // container holds the scales whose bits the knapsack counted: the planned rate to the bit)
    const auto aw = with_stats("w.qamw.safetensors", "sw.json", "");
    INFO(aw.out);
    REQUIRE(aw.status == 0);
    const nlohmann::json jw = json_of(aw.out);
    REQUIRE(jw["bpw_quantized"].get<double>() == jw["allocation"]["planned_bpw"].get<double>());
    const sensitivity_table table = read_sensitivity(dir / "sw.json");
    const std::map<std::string, double> table_alpha(table.alphas.begin(), table.alphas.end());
    std::map<std::string, int> k_of;
    for (const auto& t : jw["tensors"])
        if (t["quantized"].get<bool>()) k_of[t["name"]] = t["bits_per_pair"].get<int>();
    const activation_stats stats = activation_stats::from_act_stats(dir / "st.safetensors");
    const io::checkpoint ck = io::checkpoint::open(model_dir);
    REQUIRE(jw["awq"].size() == table.alphas.size());
    std::size_t off_reference = 0;
    for (const auto& g : jw["awq"]) {
        const std::string key = g["group"];
        INFO(key);
        std::vector<std::vector<float>> w;
        std::vector<const float*> ptrs;
        std::vector<std::int64_t> rows;
        std::vector<params> codecs;
        std::string first;
        for (const auto& [name, k] : k_of)
            if (awq_group_key(name) == key) {
                if (first.empty()) first = name;
                w.push_back(io::to_f32(ck.view(name)));
                rows.push_back(ck.find(name)->shape[0]);
                params p;
                p.bits = k;
                codecs.push_back(p);
                off_reference += k != 8;
            }
        REQUIRE_FALSE(first.empty());
        for (const auto& v : w) ptrs.push_back(v.data());
        const auto& st = stats.by_weight.at(first);
        const awq_result r = awq_search(ptrs, rows, ck.find(first)->shape[1], st.first, st.second, codecs, 1);
        double best = 0, err = INFINITY;
        for (const auto& [a, e] : r.curve)
            if (a > 0 && e < err) best = a, err = e;
        REQUIRE((table_alpha.at(key) > 0) == (g["alpha"].get<double>() > 0));
        REQUIRE(g["alpha"].get<double>() == (table_alpha.at(key) > 0 ? best : 0.0));
    }
    REQUIRE(off_reference > 0);  // some members are coded at a k other than the table's α's

    // a cache measured for another run is refused, naming the file; an allocation without --calib is refused
    const auto other = run("quantize " + quote(model_dir) + " " + quote(dir / "c.qamw.safetensors") + " --calib " +
                           quote(tokens) + " --ctx 256 --calib-windows 3 --sensitivity " + quote(dir / "s.json") +
                           " --bpw 4.25");
    REQUIRE(other.status != 0);
    REQUIRE_THAT(other.out, Catch::Contains("s.json") && Catch::Contains("windows"));
    const auto nocalib = run("quantize " + quote(model_dir) + " " + quote(dir / "d.qamw.safetensors") + " --bpw 4.25");
    REQUIRE(nocalib.status != 0);
    REQUIRE_THAT(nocalib.out, Catch::Contains("--calib"));
    const auto range = run("quantize " + quote(model_dir) + " " + quote(dir / "e.qamw.safetensors") + " --bpw 6.5 --calib " +
                           quote(tokens));
    REQUIRE(range.status != 0);
    REQUIRE_THAT(range.out, Catch::Contains("--bpw") && Catch::Contains("[2, 6]"));
}
