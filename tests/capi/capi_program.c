/* tests/capi/capi_program.c — a C engine using qamw through qamw/qamw.h: open a container, prepare every quantized
 * tensor, and compute y = Ŵ x (vec_dot from the type traits, two row ranges) and Y = Ŵ [x_0 … x_3] (gemm_rows) for
 * x_b[j] = sin(j + b), the activations of examples/engine.cpp, then the same two on the integer path
 * (qamw_int_dot_rows over two row ranges, qamw_int_gemm_rows). Writes every y, every Y, every integer y, every integer
 * Y as raw f32 to OUT; the test suite compares them bit for bit with the qamw tool's products. Usage: capi_program
 * FILE OUT */
#include <qamw/qamw.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char* what, const char* err) {
    fprintf(stderr, "capi_program: %s: %s\n", what, err);
    return 1;
}

int main(int argc, char** argv) {
    char err[512];
    qamw_container* c = NULL;
    FILE* out;
    size_t i, j, b, pass;
    const size_t m = 4;
    const qamw_type_traits* traits = qamw_get_type_traits();
    if (argc != 3) return fprintf(stderr, "usage: %s FILE OUT\n", argv[0]), 2;
    if (qamw_container_open(argv[1], &c, err, sizeof err) != QAMW_OK) return fail(argv[1], err);
    out = fopen(argv[2], "wb");
    if (!out) return fail(argv[2], "cannot write");
    /* pass 0 writes every y, pass 1 every Y (the layout examples/engine.cpp writes); passes 2, 3 the integer path's */
    for (pass = 0; pass < 4; ++pass)
        for (i = 0; i < qamw_container_tensor_count(c); ++i) {
            qamw_tensor* t = NULL;
            int64_t rows, cols, half;
            size_t np;
            float *x, *xt, *y, *scratch;
            unsigned char* act;
            int32_t* words;
            size_t ab;
            if (qamw_tensor_prepare(c, qamw_container_tensor_name(c, i), &t, err, sizeof err) != QAMW_OK)
                return fail(qamw_container_tensor_name(c, i), err);
            rows = qamw_tensor_rows(t), cols = qamw_tensor_cols(t), np = qamw_tensor_padded(t);
            x = malloc(sizeof(float) * m * (size_t)cols);
            xt = malloc(sizeof(float) * m * np);
            y = malloc(sizeof(float) * m * (size_t)rows + 1);
            scratch = malloc(sizeof(float) * qamw_tensor_gemm_scratch_floats(t));
            ab = qamw_tensor_int_activation_bytes(t);
            act = malloc(m * ab);
            words = malloc(sizeof(int32_t) * qamw_tensor_int_gemm_scratch_words(t));
            if (!x || !xt || !y || !scratch || !act || !words) return fail("malloc", "out of memory");
            for (b = 0; b < m; ++b)
                for (j = 0; j < (size_t)cols; ++j) x[b * (size_t)cols + j] = (float)sin((double)(j + b));
            for (b = 0; b < m; ++b) traits->from_activation(t, x + b * (size_t)cols, xt + b * np);
            half = rows / 2;
            if (pass == 0) {
                if (traits->vec_dot(t, xt, 0, half, y) || traits->vec_dot(t, xt, half, rows, y + half))
                    return fail("vec_dot", "refused a valid row range");
                if (qamw_dot_rows(t, xt, 0, rows + 1, y) != QAMW_INVALID_ARGUMENT)
                    return fail("qamw_dot_rows", "accepted rows past the end");
                fwrite(y, sizeof(float), (size_t)rows, out);
            } else if (pass == 1) {
                if (qamw_gemm_rows(t, xt, m, 0, rows, y, (size_t)rows, scratch))
                    return fail("qamw_gemm_rows", "refused a valid row range");
                fwrite(y, sizeof(float), m * (size_t)rows, out);
            } else {
                for (b = 0; b < m; ++b)
                    if (qamw_quantize_activation(t, xt + b * np, act + b * ab)) return fail("qamw_quantize_activation", "refused");
                if (pass == 2) {
                    if (qamw_int_dot_rows(t, act, 0, half, y) || qamw_int_dot_rows(t, act, half, rows, y + half))
                        return fail("qamw_int_dot_rows", "refused a valid row range");
                    if (qamw_int_dot_rows(t, act, 0, rows + 1, y) != QAMW_INVALID_ARGUMENT)
                        return fail("qamw_int_dot_rows", "accepted rows past the end");
                    fwrite(y, sizeof(float), (size_t)rows, out);
                } else {
                    if (qamw_int_gemm_rows(t, act, m, 0, rows, y, (size_t)rows, words))
                        return fail("qamw_int_gemm_rows", "refused a valid row range");
                    fwrite(y, sizeof(float), m * (size_t)rows, out);
                }
            }
            free(x), free(xt), free(y), free(scratch), free(act), free(words);
            qamw_tensor_free(t);
        }
    qamw_container_close(c);
    if (fclose(out) != 0) return fail(argv[2], "cannot write");
    printf("capi_program: %s, qamw %s, format %d\n", argv[1], qamw_version(), qamw_format_version());
    return 0;
}
