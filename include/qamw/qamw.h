/* qamw/qamw.h — the C interface of qamw's engine API (qamw/engine.hpp), for engines written in C, Rust, Go, ...
 *
 * Link the compiled target qamw::c (C++ inside, this header outside). Lifetimes: a container maps its file and owns
 * the mapping; a tensor borrows its container's mapping (close tensors before their container); neither is thread
 * bound. The row-range functions allocate nothing, start no threads, take caller-provided scratch, and may be called
 * concurrently from any threads for any row ranges of the same tensor. The kernel instruction set is chosen once per
 * tensor at qamw_tensor_prepare (QAMW_ISA in the environment forces one; see qamw/dispatch.hpp).
 *
 * Errors: functions that can fail return 0 on success and a non-zero qamw_status otherwise, writing a message naming
 * the file, tensor or argument and the rule into err[0, err_len) (always NUL-terminated; err may be NULL).
 *
 * The format as an engine type (in the manner of ggml's type traits): qamw_get_type_traits() describes the operations
 * an engine registers for a qamw tensor: to_float (decode rows), the activation it wants (from_activation: x → x̃,
 * n_pad floats), and vec_dot (rows · x̃). Math and costs: qamw/engine.hpp.
 */
#ifndef QAMW_QAMW_H
#define QAMW_QAMW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qamw_status {
    QAMW_OK = 0,
    QAMW_INVALID_ARGUMENT = 1, /* a parameter outside its range (row range, null pointer) */
    QAMW_NON_FINITE = 2,       /* NaN or Inf input */
    QAMW_FORMAT = 3,           /* a file that does not follow its format */
    QAMW_UNSUPPORTED = 4,      /* a well-formed input this version does not handle */
    QAMW_IO = 5                /* the operating system refused a file operation */
} qamw_status;

typedef struct qamw_container qamw_container; /* an opened (memory-mapped, validated) .qamw.safetensors file */
typedef struct qamw_tensor qamw_tensor;       /* one quantized tensor, prepared for the engine */

/* Opens and validates a container; *out receives it (close with qamw_container_close). */
int qamw_container_open(const char* path, qamw_container** out, char* err, size_t err_len);
void qamw_container_close(qamw_container* c);
/* The quantized tensors, in file order: count, and the name of tensor i (valid while the container is open). */
size_t qamw_container_tensor_count(const qamw_container* c);
const char* qamw_container_tensor_name(const qamw_container* c, size_t i);

/* Prepares the quantized tensor `name` of c (validated; copies no codes); free with qamw_tensor_free. */
int qamw_tensor_prepare(const qamw_container* c, const char* name, qamw_tensor** out, char* err, size_t err_len);
void qamw_tensor_free(qamw_tensor* t);
int64_t qamw_tensor_rows(const qamw_tensor* t);
int64_t qamw_tensor_cols(const qamw_tensor* t);
size_t qamw_tensor_padded(const qamw_tensor* t);              /* n_pad: floats of a rotated activation */
int qamw_tensor_bits(const qamw_tensor* t);                   /* k, bits per pair */
size_t qamw_tensor_decode_scratch_floats(const qamw_tensor* t);
size_t qamw_tensor_gemm_scratch_floats(const qamw_tensor* t);
const char* qamw_tensor_isa(const qamw_tensor* t);            /* an ISA name of qamw/dispatch.hpp: "scalar", "avx2", "avx512vnni", "neondot", ... */

/* xt[0, n_pad) ← x̃ for x[0, cols). */
void qamw_rotate(const qamw_tensor* t, const float* x, float* xt);
/* y[i − r0] = (Ŵ x)_i for rows [r0, r1), xt = qamw_rotate(x). Returns QAMW_INVALID_ARGUMENT for a bad range. */
int qamw_dot_rows(const qamw_tensor* t, const float* xt, int64_t r0, int64_t r1, float* y);
/* out[(i − r0)·cols + j] = ŵ_ij for rows [r0, r1); scratch: qamw_tensor_decode_scratch_floats floats. */
int qamw_decode_rows(const qamw_tensor* t, int64_t r0, int64_t r1, float* out, float* scratch);
/* y[b·ldy + (i − r0)] = (Ŵ x_b)_i for rows [r0, r1), m activations rotated into xt (n_pad floats apart);
 * scratch: qamw_tensor_gemm_scratch_floats floats. */
int qamw_gemm_rows(const qamw_tensor* t, const float* xt, size_t m, int64_t r0, int64_t r1, float* y, size_t ldy,
                   float* scratch);

/* The integer path (qamw/engine.hpp: the activation quantized once per product to int8 or int16 with per-block scales,
 * integer codebooks, exact int32 sums; error bound and cost per weight there). qamw_tensor_prepare builds its tables
 * (18 KiB per tensor), and for a d8 tensor at k = 9…11 on a kernel set with the split q16 kernel a copy of its codes in
 * that kernel's layout (prepared_tensor::use_split_codes). A quantized activation takes
 * qamw_tensor_int_activation_bytes bytes of caller memory, 8-byte aligned (64 recommended); it records the tensor shape
 * and path it was made for, and the functions below refuse (QAMW_INVALID_ARGUMENT) one made for another tensor shape. */
size_t qamw_tensor_int_activation_bytes(const qamw_tensor* t);
/* act ← x̃ quantized, from xt = qamw_rotate(x). QAMW_NON_FINITE for a NaN or Inf in xt. */
int qamw_quantize_activation(const qamw_tensor* t, const float* xt, void* act);
/* y[i − r0] ≈ (Ŵ x)_i for rows [r0, r1), act = qamw_quantize_activation(x̃). */
int qamw_int_dot_rows(const qamw_tensor* t, const void* act, int64_t r0, int64_t r1, float* y);
size_t qamw_tensor_int_gemm_scratch_words(const qamw_tensor* t);
/* y[b·ldy + (i − r0)] ≈ (Ŵ x_b)_i for rows [r0, r1) and m quantized activations, qamw_tensor_int_activation_bytes apart
 * from acts; scratch: qamw_tensor_int_gemm_scratch_words int32. Every value equals qamw_int_dot_rows' bit for bit. */
int qamw_int_gemm_rows(const qamw_tensor* t, const void* acts, size_t m, int64_t r0, int64_t r1, float* y, size_t ldy,
                       int32_t* scratch);

/* The format's operations, as an engine registers a weight type. */
typedef struct qamw_type_traits {
    const char* type_name;                   /* "qamw" */
    int activation_is_rotated;               /* 1: vec_dot reads x̃ from from_activation, n_pad floats, not x */
    int (*to_float)(const qamw_tensor* t, int64_t r0, int64_t r1, float* out, float* scratch);
    void (*from_activation)(const qamw_tensor* t, const float* x, float* xt);
    int (*vec_dot)(const qamw_tensor* t, const float* xt, int64_t r0, int64_t r1, float* y);
} qamw_type_traits;
const qamw_type_traits* qamw_get_type_traits(void);

/* The library version ("0.1.0") and container format version it writes. */
const char* qamw_version(void);
int qamw_format_version(void);

#ifdef __cplusplus
}
#endif

#endif /* QAMW_QAMW_H */
