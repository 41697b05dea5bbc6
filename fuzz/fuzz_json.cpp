// fuzz/fuzz_json.cpp — qamw::io::json::parse on arbitrary bytes, then the dump → parse round trip.
//
// Oracle: parse either throws qamw::error or returns a value whose compact and indented dumps both parse back to a
// value with the same compact dump (dump never throws for a parsed value: parsed strings are valid UTF-8 and parsed
// numbers finite). Kind survival is part of that check: an integer dumps as an integer, a double with ".0" or an
// exponent.
#include "fuzz_common.hpp"

#include <qamw/detail/json.hpp>

#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using qamw::io::json;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    json j;
    try {
        j = json::parse(text, "fuzz input");
    } catch (const qamw::error&) {
        return 0;  // rejected: the expected outcome for most inputs
    }
    const std::string compact = j.dump();
    const std::string pretty = j.dump(2);
    const json back = json::parse(compact, "compact dump");
    QAMW_FUZZ_CHECK(back.dump() == compact);
    QAMW_FUZZ_CHECK(json::parse(pretty, "indented dump").dump() == compact);
    QAMW_FUZZ_CHECK(back.type() == j.type());
    if (j.is_object()) QAMW_FUZZ_CHECK(back.members().size() == j.members().size());
    if (j.is_array()) QAMW_FUZZ_CHECK(back.items().size() == j.items().size());
    return 0;
}
