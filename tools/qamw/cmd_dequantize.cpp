// tools/qamw/cmd_dequantize.cpp — `qamw dequantize`: a container → a plain Hugging Face checkpoint directory.
#include "commands.hpp"
#include "common/parallel.hpp"

#include <qamw/container.hpp>
#include <qamw/detail/half.hpp>
#include <qamw/io/atomic_file.hpp>
#include <qamw/io/json.hpp>

#include <cstdio>
#include <filesystem>

namespace qamw::cli {

const command_spec dequantize_spec{
    "qamw dequantize IN OUT [--dtype bf16|f16|f32] [--threads N] [--json]",
    "Decodes every quantized tensor of the container IN and writes a plain checkpoint directory OUT (created; its\n"
    "parent must exist): OUT/model.safetensors with the original tensor names and shapes, quantized tensors in --dtype\n"
    "(default: the dtype they were quantized from), other tensors unchanged, plus the embedded config.json and\n"
    "tokenizer files, so that transformers or llama.cpp's converter can load it.",
    {{"dtype", "T", "bf16, f16 or f32 for the decoded tensors (default: their source dtype)"},
     {"threads", "N", "worker threads (default 0 = all cores)"},
     {"json", "", "print a JSON summary"}},
    2,
    2};

int run_dequantize(const args& a) {
    container c = container::open(a.positional[0]);
    const std::string out = a.positional[1];
    const int threads = static_cast<int>(a.get_int("threads", 0));
    std::string want = a.get("dtype");
    if (!want.empty() && want != "bf16" && want != "f16" && want != "f32")
        throw error(errc::invalid_argument, "--dtype must be bf16, f16 or f32, got '" + want + "'");
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path parent = fs::absolute(out).parent_path();
    if (!fs::is_directory(parent)) throw error(errc::io, "output directory's parent '" + parent.string() + "' does not exist");
    fs::create_directory(out, ec);
    if (ec) throw error(errc::io, "cannot create '" + out + "': " + ec.message());

    auto dtype_of = [&](const std::string& name) {
        std::string d = want.empty() ? c.meta(name).at("source_dtype").as_string() : want;
        return d == "BF16" || d == "bf16" ? io::dtype::bf16 : d == "F16" || d == "f16" ? io::dtype::f16 : io::dtype::f32;
    };
    io::safetensors_writer w((fs::path(out) / "model.safetensors").string());
    const std::vector<std::string>& order = c.tensor_names();
    for (const auto& name : order) {
        if (c.is_quantized(name))
            w.add(name, dtype_of(name), {c.meta(name).at("rows").as_int(), c.meta(name).at("cols").as_int()});
        else
            w.add(name, c.file().find(name)->type, c.file().find(name)->shape);
    }
    w.begin();
    progress bar("dequantize", double(order.size()), "tensors");
    std::size_t done = 0, bytes = 0;
    for (const auto& name : order) {
        if (c.is_quantized(name)) {
            std::vector<float> d = decode(c.view(name), on_threads{threads});
            io::dtype t = dtype_of(name);
            if (t == io::dtype::f32) {
                w.write(name, d.data(), d.size() * 4);
                bytes += d.size() * 4;
            } else {
                std::vector<std::uint16_t> h(d.size());
                for (std::size_t i = 0; i < d.size(); ++i)
                    h[i] = t == io::dtype::bf16 ? detail::f32_to_bf16(d[i]) : detail::f32_to_f16(d[i]);
                w.write(name, h.data(), h.size() * 2);
                bytes += h.size() * 2;
            }
        } else {
            io::tensor_view v = c.file().view(name);
            w.write(name, v.data, v.nbytes);
            bytes += v.nbytes;
        }
        bar.update(double(++done), double(bytes), name);
    }
    w.commit();
    std::vector<std::string> files = c.embedded_files();
    for (const auto& f : files) {
        if (f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == ".." || f == "." ||
            f == "model.safetensors")
            throw error(errc::format, c.path() + ": embedded file name '" + f + "' is not a plain file name");
        auto data = c.embedded_file(f);
        io::atomic_file af((fs::path(out) / f).string());
        af.write(data->data(), data->size());
        af.commit();
    }
    if (a.has("json")) {
        io::json j = io::json::object();
        j.set("input", a.positional[0]);
        j.set("output", out);
        j.set("tensors", static_cast<std::int64_t>(order.size()));
        j.set("quantized_tensors", static_cast<std::int64_t>(c.quantized_names().size()));
        j.set("bytes", static_cast<std::int64_t>(bytes));
        io::json& fl = j.set("files", io::json::array());
        for (const auto& f : files) fl.push_back(f);
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("%s -> %s/model.safetensors: %zu tensors (%zu decoded), %.2f MB; copied %zu files\n",
                    a.positional[0].c_str(), out.c_str(), order.size(), c.quantized_names().size(), bytes / 1e6,
                    files.size());
    }
    return 0;
}

}  // namespace qamw::cli
