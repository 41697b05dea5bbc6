// tools/common/pattern.hpp — the regular expressions of --include / --exclude, matched in linear time.
//
// std::regex backtracks: '(.*)*x' against a 60-character name runs for minutes. These patterns are compiled to a
// Thompson NFA and matched by simulating all states at once, so a match costs O(name length × pattern length) whatever
// the pattern. The supported subset of ECMAScript syntax, always matched against the whole name:
//   literal characters; '.' (any character); classes '[abc]', '[a-z0-9_]', '[^...]'; escapes '\.', '\\', '\[' (any
//   punctuation), '\d', '\w', '\s'; groups '( )' and '(?: )'; alternation 'a|b'; quantifiers '*', '+', '?'.
// Not supported (refused with the position): anchors '^' '$' (the match is always whole-name), counted repetition
// '{m,n}', back-references, lookaround, lazy quantifiers. Patterns are limited to 1000 characters.
#pragma once

#include <qamw/error.hpp>

#include <bitset>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qamw::tools {

class pattern {
public:
    static constexpr std::size_t max_length = 1000;

    pattern() = default;

    /// Compiles `re`; errors are errc::invalid_argument "<option> '<re>': <problem> at position P".
    static pattern compile(const std::string& re, const std::string& option) {
        pattern p;
        parser ps{re, option, p.states_, 0};
        if (re.size() > max_length) ps.fail("longer than " + std::to_string(max_length) + " characters");
        frag f = ps.alternation();
        if (ps.pos != re.size()) ps.fail(re[ps.pos] == ')' ? "unmatched ')'" : "unexpected character");
        const int match = p.add({kind::match, {}, -1, -1});
        p.patch(f, match);
        p.start_ = f.start;
        p.source_ = re;
        return p;
    }

    /// Whether the whole of `s` matches.
    bool matches(const std::string& s) const {
        if (states_.empty()) return false;
        std::vector<int> cur, next;
        std::vector<std::uint32_t> mark(states_.size(), 0);
        std::uint32_t gen = 1;
        add(cur, start_, mark, gen);
        for (unsigned char c : s) {
            ++gen;
            next.clear();
            for (int i : cur)
                if (states_[std::size_t(i)].k == kind::set && states_[std::size_t(i)].chars[c])
                    add(next, states_[std::size_t(i)].out, mark, gen);
            std::swap(cur, next);
            if (cur.empty()) return false;
        }
        for (int i : cur)
            if (states_[std::size_t(i)].k == kind::match) return true;
        return false;
    }

    const std::string& source() const { return source_; }

private:
    enum class kind { set, split, match };
    struct state {
        kind k;
        std::bitset<256> chars;  ///< set: the characters that advance
        int out, out1;           ///< set: out; split: out and out1 (epsilon); -1 dangling
    };
    /// A partial NFA: its start and the dangling exits (state index, 0 = out / 1 = out1).
    struct frag {
        int start;
        std::vector<std::pair<int, int>> exits;
    };

    std::vector<state> states_;
    int start_ = 0;
    std::string source_;

    int add(state s) {
        states_.push_back(s);
        return int(states_.size()) - 1;
    }
    void patch(const frag& f, int to) {
        for (auto [s, which] : f.exits) (which ? states_[std::size_t(s)].out1 : states_[std::size_t(s)].out) = to;
    }
    void add(std::vector<int>& list, int s, std::vector<std::uint32_t>& mark, std::uint32_t gen) const {
        // Iterative epsilon closure (deeply nested patterns must not overflow the stack).
        std::vector<int> stack{s};
        while (!stack.empty()) {
            int i = stack.back();
            stack.pop_back();
            if (i < 0 || mark[std::size_t(i)] == gen) continue;
            mark[std::size_t(i)] = gen;
            const state& st = states_[std::size_t(i)];
            if (st.k == kind::split) {
                stack.push_back(st.out1);
                stack.push_back(st.out);
            } else {
                list.push_back(i);
            }
        }
    }

    struct parser {
        const std::string& re;
        const std::string& option;
        std::vector<state>& states;
        std::size_t pos;
        int depth = 0;

        [[noreturn]] void fail(const std::string& what) const {
            throw error(errc::invalid_argument,
                        option + " '" + re + "': " + what + " at position " + std::to_string(pos) +
                            " (supported: literals . [...] \\d \\w \\s ( ) | * + ?, matched against the whole name)");
        }
        int add(state s) {
            states.push_back(s);
            return int(states.size()) - 1;
        }
        void patch(const frag& f, int to) {
            for (auto [s, which] : f.exits) (which ? states[std::size_t(s)].out1 : states[std::size_t(s)].out) = to;
        }
        bool at_end() const { return pos >= re.size(); }

        frag epsilon() {
            int s = add({kind::split, {}, -1, -1});
            states[std::size_t(s)].out1 = -2;  // never taken: a split with one live exit
            return {s, {{s, 0}}};
        }
        frag alternation() {
            frag f = concatenation();
            while (!at_end() && re[pos] == '|') {
                ++pos;
                frag g = concatenation();
                int s = add({kind::split, {}, f.start, g.start});
                f.exits.insert(f.exits.end(), g.exits.begin(), g.exits.end());
                f.start = s;
            }
            return f;
        }
        frag concatenation() {
            frag f = epsilon();
            while (!at_end() && re[pos] != '|' && re[pos] != ')') {
                frag g = repetition();
                patch(f, g.start);
                f.exits = std::move(g.exits);
            }
            return f;
        }
        frag repetition() {
            frag f = atom();
            while (!at_end() && (re[pos] == '*' || re[pos] == '+' || re[pos] == '?')) {
                const char q = re[pos++];
                if (!at_end() && re[pos] == '?') fail("lazy quantifiers are not supported");
                int s = add({kind::split, {}, f.start, -1});
                if (q == '*') {
                    patch(f, s);
                    f = {s, {{s, 1}}};
                } else if (q == '+') {
                    patch(f, s);
                    f = {f.start, {{s, 1}}};
                } else {
                    f.exits.push_back({s, 1});
                    f.start = s;
                }
            }
            return f;
        }
        frag set_frag(const std::bitset<256>& chars) {
            int s = add({kind::set, chars, -1, -1});
            return {s, {{s, 0}}};
        }
        static int first_bit(const std::bitset<256>& b) {
            for (int i = 0; i < 256; ++i)
                if (b[std::size_t(i)]) return i;
            return -1;
        }
        static std::bitset<256> class_escape(char c, bool& ok) {
            std::bitset<256> b;
            ok = true;
            auto range = [&](int lo, int hi) { for (int i = lo; i <= hi; ++i) b.set(std::size_t(i)); };
            switch (c) {
                case 'd': range('0', '9'); break;
                case 'w': range('0', '9'), range('a', 'z'), range('A', 'Z'), b.set('_'); break;
                case 's': for (char w : {' ', '\t', '\n', '\r', '\f', '\v'}) b.set(std::size_t(static_cast<unsigned char>(w))); break;
                default:
                    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ok = false;
                    else b.set(std::size_t(static_cast<unsigned char>(c)));
            }
            return b;
        }
        std::bitset<256> escape() {
            if (at_end()) fail("'\\' at the end of the pattern");
            bool ok;
            std::bitset<256> b = class_escape(re[pos], ok);
            if (!ok) fail(std::string("unsupported escape '\\") + re[pos] + "'");
            ++pos;
            return b;
        }
        std::bitset<256> char_class() {
            std::bitset<256> b;
            bool negate = !at_end() && re[pos] == '^';
            if (negate) ++pos;
            bool first = true;
            for (;;) {
                if (at_end()) fail("unterminated '['");
                char c = re[pos];
                if (c == ']' && !first) { ++pos; break; }
                first = false;
                std::bitset<256> item;
                int lo;
                if (c == '\\') {
                    ++pos;
                    item = escape();
                    lo = item.count() == 1 ? first_bit(item) : -1;
                } else {
                    ++pos;
                    lo = static_cast<unsigned char>(c);
                    item.set(std::size_t(lo));
                }
                if (lo >= 0 && pos + 1 < re.size() && re[pos] == '-' && re[pos + 1] != ']') {
                    ++pos;
                    int hi;
                    if (re[pos] == '\\') {
                        ++pos;
                        std::bitset<256> e = escape();
                        if (e.count() != 1) fail("a class escape cannot end a range");
                        hi = first_bit(e);
                    } else {
                        hi = static_cast<unsigned char>(re[pos++]);
                    }
                    if (hi < lo) fail("range out of order");
                    for (int i = lo; i <= hi; ++i) item.set(std::size_t(i));
                }
                b |= item;
            }
            return negate ? ~b : b;
        }
        frag atom() {
            const char c = re[pos];
            switch (c) {
                case '(': {
                    if (++depth > 100) fail("groups nested deeper than 100");
                    ++pos;
                    if (re.compare(pos, 2, "?:") == 0) pos += 2;
                    else if (!at_end() && re[pos] == '?') fail("lookaround and named groups are not supported");
                    frag f = alternation();
                    if (at_end() || re[pos] != ')') fail("unmatched '('");
                    ++pos;
                    --depth;
                    return f;
                }
                case '[': ++pos; return set_frag(char_class());
                case '.': ++pos; return set_frag(std::bitset<256>().set());
                case '\\': ++pos; return set_frag(escape());
                case '*': case '+': case '?': fail("nothing to repeat before '" + std::string(1, c) + "'");
                case '{': case '}': fail("counted repetition '{m,n}' is not supported");
                case '^': case '$': fail("anchors are not supported (the pattern always matches the whole name)");
                case ']': fail("unmatched ']'");
                default: {
                    ++pos;
                    std::bitset<256> b;
                    b.set(std::size_t(static_cast<unsigned char>(c)));
                    return set_frag(b);
                }
            }
        }
    };
};

}  // namespace qamw::tools
