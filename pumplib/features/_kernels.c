/*
 * Native twins of the two numba kernels of pumplib.features (kernels._load_segment_kernel
 * and aggregations._fused_kernel), for processes that should not pay numba's start-up
 * (~0.3-0.4 s of CPU holding the GIL on its first call). pip compiles this file into the
 * extension module pumplib.features._kernels when pumplib is installed (pyproject.toml);
 * pumplib.features.native loads it through ctypes, which releases the GIL. Where it was
 * not built, the numba kernels run instead.
 *
 * Both add a period's samples one by one in time order, without fast-math or FMA
 * contraction (-ffp-contract=off), so every sum is bit for bit the numba kernels' sum.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* max, min, n, n_good, sum of the periods x[r, edges[i]:edges[i+1]] into
 * out[f, r, o0 + i] (out: (5, rows, width), C order; x: rows of xs doubles apart). */
void pumplib_segment(const double *x, int64_t rows, int64_t xs, const int64_t *edges,
                     int64_t nper, double *out, int64_t width, int64_t o0)
{
    const int64_t plane = rows * width;
    for (int64_t r = 0; r < rows; r++) {
        const double *row = x + r * xs;
        for (int64_t i = 0; i < nper; i++) {
            double n = 0.0, ng = 0.0, s = 0.0, lo = INFINITY, hi = -INFINITY;
            for (int64_t j = edges[i]; j < edges[i + 1]; j++) {
                const double v = row[j];
                if (v == v) {                       /* not NaN: good */
                    ng += 1.0;
                    if (fabs(v) < INFINITY) {       /* finite: a value */
                        n += 1.0;
                        s += v;
                        lo = v < lo ? v : lo;
                        hi = v > hi ? v : hi;
                    }
                }
            }
            const int64_t o = r * width + o0 + i;
            out[o] = n > 0 ? hi : NAN;
            out[plane + o] = n > 0 ? lo : NAN;
            out[2 * plane + o] = n;
            out[3 * plane + o] = ng;
            out[4 * plane + o] = s;
        }
    }
}

/* n, n_good, sum, min, max of consecutive k-sample periods of x (rows, t; strides in
 * elements) with the good mask g (bytes; strides in bytes, 0 when broadcast) into
 * out (5, rows, t / k), C order. */
void pumplib_fused(const double *x, int64_t rows, int64_t t, int64_t xs0, int64_t xs1,
                   const uint8_t *g, int64_t gs0, int64_t gs1, int64_t k, double *out)
{
    const int64_t nb = t / k;
    const int64_t plane = rows * nb;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            double n = 0.0, ng = 0.0, s = 0.0, lo = INFINITY, hi = -INFINITY;
            for (int64_t j = b * k; j < b * k + k; j++) {
                const double v = x[r * xs0 + j * xs1];
                if (fabs(v) < INFINITY) {           /* finite (NaN compares false) */
                    n += 1.0;
                    s += v;
                    lo = v < lo ? v : lo;
                    hi = v > hi ? v : hi;
                }
                if (g[r * gs0 + j * gs1])
                    ng += 1.0;
            }
            const int64_t o = r * nb + b;
            out[o] = n;
            out[plane + o] = ng;
            out[2 * plane + o] = s;
            out[3 * plane + o] = n > 0 ? lo : NAN;
            out[4 * plane + o] = n > 0 ? hi : NAN;
        }
    }
}

/* An (empty) Python module, so that pip builds and installs this file as the extension
 * pumplib.features._kernels; pumplib calls the functions above through ctypes. */
static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "C feature kernels of pumplib, called through ctypes (pumplib.features.native).", -1, NULL
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    return PyModule_Create(&kernels_module);
}
