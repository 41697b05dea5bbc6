// src/capi.cpp — the C interface (include/qamw/qamw.h) over the engine API: handles own a container or a prepared
// tensor; qamw::error becomes a status code and a message; nothing throws across the C boundary.
#include <qamw/qamw.h>

#include <qamw/container.hpp>
#include <qamw/dispatch.hpp>
#include <qamw/engine.hpp>
#include <qamw/version.hpp>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct qamw_container {
    qamw::container c;
};

struct qamw_tensor {
    qamw::prepared_tensor t;
    const qamw::kernel_table* k;
    std::vector<std::uint8_t> split;  ///< the codes in the split layout where k runs the tensor on the split q16 kernel
};

namespace {

int fail(char* err, std::size_t len, int status, const std::string& msg) {
    if (err && len) {
        const std::size_t n = std::min(len - 1, msg.size());
        std::memcpy(err, msg.data(), n);
        err[n] = '\0';
    }
    return status;
}

int status_of(qamw::errc c) {
    switch (c) {
        case qamw::errc::invalid_argument: return QAMW_INVALID_ARGUMENT;
        case qamw::errc::non_finite: return QAMW_NON_FINITE;
        case qamw::errc::format: return QAMW_FORMAT;
        case qamw::errc::unsupported: return QAMW_UNSUPPORTED;
        case qamw::errc::io: return QAMW_IO;
    }
    return QAMW_FORMAT;
}

/// Runs f, turning every exception into a status and a message.
template <class F>
int guarded(char* err, std::size_t len, F&& f) {
    try {
        f();
        return QAMW_OK;
    } catch (const qamw::error& e) {
        return fail(err, len, status_of(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        return fail(err, len, QAMW_IO, "out of memory");
    } catch (const std::exception& e) {
        return fail(err, len, QAMW_FORMAT, e.what());
    }
}

bool in_range(const qamw_tensor* t, std::int64_t r0, std::int64_t r1) {
    return t && r0 >= 0 && r0 <= r1 && r1 <= t->t.rows();
}

}  // namespace

extern "C" {

int qamw_container_open(const char* path, qamw_container** out, char* err, size_t err_len) {
    if (!path || !out) return fail(err, err_len, QAMW_INVALID_ARGUMENT, "qamw_container_open: null path or out");
    *out = nullptr;
    return guarded(err, err_len, [&] { *out = new qamw_container{qamw::container::open(path)}; });
}

void qamw_container_close(qamw_container* c) { delete c; }

size_t qamw_container_tensor_count(const qamw_container* c) { return c ? c->c.quantized_names().size() : 0; }

const char* qamw_container_tensor_name(const qamw_container* c, size_t i) {
    return c && i < c->c.quantized_names().size() ? c->c.quantized_names()[i].c_str() : nullptr;
}

int qamw_tensor_prepare(const qamw_container* c, const char* name, qamw_tensor** out, char* err, size_t err_len) {
    if (!c || !name || !out) return fail(err, err_len, QAMW_INVALID_ARGUMENT, "qamw_tensor_prepare: null argument");
    *out = nullptr;
    return guarded(err, err_len, [&] {
        const qamw::kernel_table& k = qamw::select_kernels();
        std::unique_ptr<qamw_tensor> t(new qamw_tensor{qamw::prepared_tensor(c->c.view(name), nullptr, true), &k, {}});
        if (qamw::int_uses_q16s(k, t->t.int_table())) {
            t->split.resize(t->t.split_codes_bytes());
            t->t.use_split_codes(t->split.data());
        }
        *out = t.release();
    });
}

void qamw_tensor_free(qamw_tensor* t) { delete t; }
int64_t qamw_tensor_rows(const qamw_tensor* t) { return t->t.rows(); }
int64_t qamw_tensor_cols(const qamw_tensor* t) { return t->t.cols(); }
size_t qamw_tensor_padded(const qamw_tensor* t) { return t->t.padded(); }
int qamw_tensor_bits(const qamw_tensor* t) { return t->t.bits(); }
size_t qamw_tensor_decode_scratch_floats(const qamw_tensor* t) { return t->t.decode_scratch_floats(); }
size_t qamw_tensor_gemm_scratch_floats(const qamw_tensor* t) { return t->t.gemm_scratch_floats(); }
const char* qamw_tensor_isa(const qamw_tensor* t) { return qamw::isa_name(t->k->id); }

void qamw_rotate(const qamw_tensor* t, const float* x, float* xt) { qamw::rotate(t->t, x, xt, *t->k); }

int qamw_dot_rows(const qamw_tensor* t, const float* xt, int64_t r0, int64_t r1, float* y) {
    if (!in_range(t, r0, r1)) return QAMW_INVALID_ARGUMENT;
    qamw::dot_rows(t->t, xt, r0, r1, y, *t->k);
    return QAMW_OK;
}

int qamw_decode_rows(const qamw_tensor* t, int64_t r0, int64_t r1, float* out, float* scratch) {
    if (!in_range(t, r0, r1)) return QAMW_INVALID_ARGUMENT;
    qamw::decode_rows(t->t, r0, r1, out, scratch, *t->k);
    return QAMW_OK;
}

int qamw_gemm_rows(const qamw_tensor* t, const float* xt, size_t m, int64_t r0, int64_t r1, float* y, size_t ldy,
                   float* scratch) {
    if (!in_range(t, r0, r1)) return QAMW_INVALID_ARGUMENT;
    qamw::gemm_rows(t->t, xt, m, r0, r1, y, ldy, scratch, *t->k);
    return QAMW_OK;
}

size_t qamw_tensor_int_activation_bytes(const qamw_tensor* t) { return t->t.int_activation_bytes(); }

int qamw_quantize_activation(const qamw_tensor* t, const float* xt, void* act) {
    if (!t || !xt || !act) return QAMW_INVALID_ARGUMENT;
    return guarded(nullptr, 0, [&] { qamw::quantize_activation(t->t, xt, act, *t->k); });
}

int qamw_int_dot_rows(const qamw_tensor* t, const void* act, int64_t r0, int64_t r1, float* y) {
    if (!in_range(t, r0, r1) || !act) return QAMW_INVALID_ARGUMENT;
    return guarded(nullptr, 0, [&] { qamw::int_dot_rows(t->t, act, r0, r1, y, *t->k); });
}

size_t qamw_tensor_int_gemm_scratch_words(const qamw_tensor* t) { return t->t.int_gemm_scratch_words(); }

int qamw_int_gemm_rows(const qamw_tensor* t, const void* acts, size_t m, int64_t r0, int64_t r1, float* y, size_t ldy,
                       int32_t* scratch) {
    if (!in_range(t, r0, r1) || (m && (!acts || !scratch))) return QAMW_INVALID_ARGUMENT;
    return guarded(nullptr, 0, [&] { qamw::int_gemm_rows(t->t, acts, m, r0, r1, y, ldy, scratch, *t->k); });
}

const qamw_type_traits* qamw_get_type_traits(void) {
    static const qamw_type_traits traits = {"qamw", 1, &qamw_decode_rows, &qamw_rotate, &qamw_dot_rows};
    return &traits;
}

const char* qamw_version(void) { return qamw::version_string; }
int qamw_format_version(void) { return qamw::format_version; }

}  // extern "C"
