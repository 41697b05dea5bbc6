// tools/common/json_out.hpp — the `qamw` tool's --json output, on nlohmann/json.
//
// Reports are nlohmann::ordered_json (members keep the order the command sets them in). dump_json() cannot fail on
// values: NaN and ±Inf are written as null (nlohmann/json's rule for non-finite numbers), and bytes that are not valid
// UTF-8 (a path from the command line, say) are replaced by U+FFFD. Commands build their report from results they
// already hold, so a finished output file is never followed by a failing report.
#pragma once

#include <qamw/detail/json.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace qamw::tools {

using json_out = nlohmann::ordered_json;

/// Indented JSON text of a report; never throws for NaN, Inf or invalid UTF-8.
inline std::string dump_json(const json_out& j) {
    return j.dump(2, ' ', false, json_out::error_handler_t::replace);
}

/// A value of the library's own JSON type (container metadata) as a report value.
inline json_out to_json_out(const io::json& v) {
    switch (v.type()) {
        case io::json::kind::null: return nullptr;
        case io::json::kind::boolean: return v.as_bool();
        case io::json::kind::number: return v.is_int() ? json_out(v.as_int()) : json_out(v.as_double());
        case io::json::kind::string: return v.as_string();
        case io::json::kind::array: {
            json_out a = json_out::array();
            for (const auto& e : v.items()) a.push_back(to_json_out(e));
            return a;
        }
        default: {
            json_out o = json_out::object();
            for (const auto& [k, e] : v.members()) o[k] = to_json_out(e);
            return o;
        }
    }
}

}  // namespace qamw::tools
