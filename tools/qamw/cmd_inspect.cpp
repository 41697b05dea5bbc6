// tools/qamw/cmd_inspect.cpp — `qamw inspect`: what a container holds, after validating all of it.
#include "commands.hpp"
#include "common/container_checks.hpp"
#include "common/json_out.hpp"

#include <qamw/container.hpp>

#include <cstdio>
#include <vector>

namespace qamw::cli {

const command_spec inspect_spec{
    "qamw inspect FILE [--json]",
    "Validates the container FILE (header, every payload's dtype and shape, codec parameters, codebook checksums,\n"
    "source dtypes, tensor names, embedded files: names and base64 content; from format 2 on, every tensor's payload\n"
    "checksum over its codes, norms, scales and parameters) and prints its format version, codec parameters and a\n"
    "per-tensor summary.",
    {{"json", "", "print one JSON object"}},
    1,
    1};

int run_inspect(const args& a) {
    container c = container::open(a.positional[0]);
    const auto files = tools::validate_container(c);
    std::size_t weights = 0, bytes = 0;
    tools::json_out j = tools::json_out::object();
    j["file"] = c.path();
    j["format_version"] = c.version();
    j["file_bytes"] = c.file().file_size();
    tools::json_out& qs = (j["quantized"] = tools::json_out::array());
    std::vector<double> bpw;
    for (const auto& name : c.quantized_names()) {
        const quantized_view q = c.view(name);  // validates the payload too
        weights += static_cast<std::size_t>(q.rows * q.cols());
        bytes += q.stored_bytes();
        tools::json_out r = tools::to_json_out(c.meta(name));
        r["name"] = name;
        r["bpw"] = q.bits_per_weight();
        bpw.push_back(q.bits_per_weight());
        r["codebook_status"] = "ok";
        r["payload_checksum"] = c.verify(name) ? "ok" : "absent (format 1)";  // throws on a mismatch
        qs.push_back(std::move(r));
    }
    j["plain_tensors"] = c.plain_names().size();
    j["bpw_quantized"] = weights ? 8.0 * double(bytes) / double(weights) : 0.0;
    tools::json_out& fl = (j["embedded_files"] = tools::json_out::array());
    for (const auto& f : files) fl.push_back(f.first);
    if (a.has("json")) {
        std::printf("%s\n", tools::dump_json(j).c_str());
        return 0;
    }
    std::printf("%s: qamw container, format version %d, %.2f MB\n", c.path().c_str(), c.version(),
                c.file().file_size() / 1e6);
    std::printf("%zu quantized tensors (%.4f bpw on average), %zu tensors stored unchanged; embedded files:",
                c.quantized_names().size(), weights ? 8.0 * double(bytes) / double(weights) : 0.0, c.plain_names().size());
    for (const auto& f : files) std::printf(" %s (%zu bytes)", f.first.c_str(), f.second.size());
    std::printf("\n\n%-48s %13s %3s %5s %7s %7s %s\n", "tensor", "shape", "k", "block", "bpw", "scaled",
                "codebook; payload");
    for (std::size_t i = 0; i < c.quantized_names().size(); ++i) {
        const std::string& name = c.quantized_names()[i];
        const io::json& m = c.meta(name);
        std::string shape = std::to_string(m.at("rows").as_int()) + "x" + std::to_string(m.at("cols").as_int());
        std::printf("%-48s %13s %3lld %5lld %7.3f %7s %s (%s, checksum ok); %s\n", name.c_str(), shape.c_str(),
                    static_cast<long long>(m.at("bits").as_int()), static_cast<long long>(m.at("block").as_int()),
                    bpw[i], m.at("scaled").as_bool() ? "yes" : "no", m.at("codebook").as_string().c_str(),
                    m.at("codebook_checksum").as_string().c_str(),
                    c.version() >= 2 ? "checksum ok" : "no checksum (format 1)");
    }
    return 0;
}

}  // namespace qamw::cli
