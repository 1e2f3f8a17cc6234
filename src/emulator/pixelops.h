/*
 * Per-pixel functions of NODE_MATH1 and NODE_MATH2 (eval_pixelops.c builds
 * the nodes, render.c applies them to a row). One value in, one value out,
 * the same for every pixel, so they are written once here.
 */
#ifndef EEFETCH_EMULATOR_PIXELOPS_H
#define EEFETCH_EMULATOR_PIXELOPS_H

#include <math.h>

enum px_fn1 {
    PX_SQRT, PX_EXP, PX_LOG, PX_LOG10, PX_ABS, PX_FLOOR, PX_CEIL, PX_ROUND, PX_NOT,
    PX_BITNOT, PX_SIN, PX_COS, PX_TAN, PX_ASIN, PX_ACOS, PX_ATAN, PX_SINH, PX_COSH,
    PX_TANH, PX_CBRT, PX_SIGNUM, PX_TRUNC
};

enum px_fn2 {
    PX_POW, PX_MOD, PX_MIN, PX_MAX, PX_BITOR, PX_BITXOR, PX_LSHIFT, PX_RSHIFT,
    PX_FLOORDIV, PX_XOR, PX_ATAN2, PX_HYPOT
};

/* NODE_RESAMPLE modes and NODE_TERRAIN products. */
enum { PX_BILINEAR = 1, PX_BICUBIC = 2 };
enum { PX_SLOPE, PX_ASPECT, PX_HILLSHADE };

/* Bitwise operators work on 64-bit integers; a value that is not one
 * (NaN, beyond 2^63) counts as 0. */
static inline long long px_int64(double v)
{
    return isfinite(v) && fabs(v) < 9.2e18 ? (long long)v : 0;
}

static inline double px_math1(int fn, double v)
{
    switch (fn) {
    case PX_SQRT: return sqrt(v);
    case PX_EXP: return exp(v);
    case PX_LOG: return log(v);
    case PX_LOG10: return log10(v);
    case PX_ABS: return fabs(v);
    case PX_FLOOR: return floor(v);
    case PX_CEIL: return ceil(v);
    case PX_ROUND: return round(v);   /* half away from zero */
    case PX_TRUNC: return trunc(v);
    case PX_NOT: return v == 0;
    case PX_BITNOT: return (double)~px_int64(v);
    case PX_SIN: return sin(v);
    case PX_COS: return cos(v);
    case PX_TAN: return tan(v);
    case PX_ASIN: return asin(v);
    case PX_ACOS: return acos(v);
    case PX_ATAN: return atan(v);
    case PX_SINH: return sinh(v);
    case PX_COSH: return cosh(v);
    case PX_TANH: return tanh(v);
    case PX_CBRT: return cbrt(v);
    case PX_SIGNUM: return v > 0 ? 1 : v < 0 ? -1 : v;
    }
    return v;
}

static inline double px_math2(int fn, double a, double b)
{
    long long ia, ib;
    switch (fn) {
    case PX_POW: return pow(a, b);
    case PX_MOD: return b == 0 ? 0 : fmod(a, b);   /* the sign of a, as Java's % */
    case PX_MIN: return a < b ? a : b;
    case PX_MAX: return a > b ? a : b;
    case PX_FLOORDIV: return b == 0 ? 0 : floor(a / b);
    case PX_XOR: return (a != 0) != (b != 0);
    case PX_ATAN2: return atan2(a, b);
    case PX_HYPOT: return hypot(a, b);
    default:
        break;
    }
    ia = px_int64(a);
    ib = px_int64(b);
    switch (fn) {
    case PX_BITOR: return (double)(ia | ib);
    case PX_BITXOR: return (double)(ia ^ ib);
    /* Shifts by a count outside 0..63 give 0 (-1 for a negative value
     * shifted right), as the arithmetic they stand for. */
    case PX_LSHIFT: return ib < 0 || ib > 63 ? 0 : ldexp((double)ia, (int)ib);
    case PX_RSHIFT:
        return ib < 0 ? 0 : ib > 63 ? (ia < 0 ? -1 : 0) : floor(ldexp((double)ia, -(int)ib));
    }
    return 0;
}

#endif
