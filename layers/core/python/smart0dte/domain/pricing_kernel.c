/* Compiled kernel of smart0dte.domain.pricing: Black-Scholes-Merton prices, Greeks and implied vol.
 *
 * A port of the numpy implementation in pricing.py, which stays the reference and the fallback: the
 * same normalisation, Mills-ratio tails, region-wise guesses, two Householder(3) steps, statuses and
 * sub-normal flushing, evaluated in the same order up to rounding (the one reformulation: the Mills
 * ratio's Taylor step, see mills_taylor), so both backends agree to a few ulps. Like the numpy
 * backend, it works through blocks of elements in passes, one step of the formulas per pass, with
 * elements grouped by region for the solver: the passes' arithmetic vectorises (SSE2), and the
 * processor overlaps the independent iterations of the rest (libm calls, table loads).
 *
 * Plain C99, libm only and no Python headers: pricing.py loads the shared object with ctypes and
 * passes numpy buffers. Each input is a pointer and a stride in elements (0 broadcasts a scalar). The
 * Mills ratio table is pricing.py's own, passed in, so both backends share it.
 *
 * Build (Makefile): cc -O3 -std=c99 -fPIC -shared -fno-math-errno -fno-trapping-math -march=x86-64-v2
 * -mtune=generic. No -ffast-math: NaN and infinity carry the statuses. -fno-trapping-math only lets
 * the compiler vectorise selects (no program reads floating-point exception flags); x86-64-v2 has no
 * FMA, so no operation is contracted.
 */

#include <math.h>
#include <stdint.h>
#include <string.h>

#define PK_ABI_VERSION 3 /* bump on any change of an exported signature or of the table layout */

/* The constants of pricing.py, bit for bit (hex literals of its doubles). */
#define EPS 0x1.0000000000000p-52
#define SQRT_TWO_PI 0x1.40d931ff62705p+1
#define INV_SQRT_TWO_PI 0x1.9884533d43651p-2
#define SQRT_HALF_PI 0x1.40d931ff62705p+0
#define SQRT_HALF 0x1.6a09e667f3bcdp-1
#define SQRT_THREE 0x1.bb67ae8584caap+0
#define EXP_MIN_ARG (-0x1.6232bdd7abcd2p+9) /* ln(smallest normal double) */
#define ACKLAM_LOG_P_LOW (-0x1.dc134a0d28448p+1) /* ln 0.02425 */
#define LOWER_MAP_SCALE 0x1.358e1a79ed7e1p+0 /* 2 pi / (3 sqrt 3) */
#define MINUTES_PER_YEAR 525600.0
#define SMALL_EXPONENT 0x1p-10
#define TINY_EXPONENT 0x1p-14
#define MAX_STEP_AFTER_CONVERGENCE 2e-5
#define MAX_ROUNDING_TO_VOL 1e-10
#define MAX_SHAPE_PARAMETER 1e6
#define MILLS_TABLE_PER_UNIT 1024.0
#define MILLS_TABLE_MAX 40.0
#define BLOCK 128 /* elements per pass: the per-element scratch arrays stay in the L1 cache */

enum { OK = 0, NOT_CONVERGED = 1, ILL_CONDITIONED = 2, NO_TIME_VALUE = 3, BELOW_INTRINSIC = 4,
       ABOVE_MAXIMUM = 5, EXPIRED = 6, INVALID_INPUT = 7 };

/* Cody's large-argument erfcx numerators (times sqrt(pi/2): the Mills ratio) and denominators. */
static const double MILLS_LARGE_NUM[6] = {
    0.0163153871373020978 * SQRT_HALF_PI, 0.305326634961232344 * SQRT_HALF_PI,
    0.360344899949804439 * SQRT_HALF_PI,  0.125781726111229246 * SQRT_HALF_PI,
    0.0160837851487422766 * SQRT_HALF_PI, 6.58749161529837803e-4 * SQRT_HALF_PI,
};
static const double CODY_Q[5] = {
    2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
    0.00233520497626869185,
};
/* Acklam's inverse normal CDF. */
static const double ACKLAM_A[6] = {
    -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
    1.383577518672690e02,  -3.066479806614716e01, 2.506628277459239e00,
};
static const double ACKLAM_B[6] = {
    -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
    6.680131188771972e01,  -1.328068155288572e01, 1.0,
};
static const double ACKLAM_C[6] = {
    -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
    -2.549732539343734e00,  4.374664141464968e00,   2.938163982698783e00,
};
static const double ACKLAM_D[5] = {
    7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00, 1.0,
};

/* Horner from the highest power down, as pricing._polynomial. */
static inline double polynomial(double z, const double *c, int n) {
    double out = z * c[0];
    for (int k = 1; k < n - 1; ++k) {
        out += c[k];
        out *= z;
    }
    return out + c[n - 1];
}

/* z^n + c0 z^(n-1) + ... + c(n-1), as pricing._monic_polynomial. */
static inline double monic_polynomial(double z, const double *c, int n) {
    double out = z + c[0];
    for (int k = 1; k < n; ++k) {
        out *= z;
        out += c[k];
    }
    return out;
}

/* The Mills ratio table of pricing.py: R(k / 1024) for k = 0 .. last. */
typedef struct {
    const double *values;
    double last;
} MillsTable;

/* Mills ratio R(u) = (1 - Phi(u)) / phi(u) for 0 <= u <= 40 (larger u and NaN give R(40)), from the
 * table value R(u0) at the nearest grid point and a 4th-order Taylor step in e = u - u0 (|e| <=
 * 1/2048), as pricing._mills_ratio. pricing.py sums the Taylor coefficients S_k = R^(k)(u0)/k!, which
 * follow from R' = u R - 1; each is linear in R(u0), so here R(u) = R(u0) P - Q with P and Q
 * polynomials in u0 and e that do not wait for the table load: the same polynomial up to rounding,
 * with a far shorter chain of dependent operations. Returns P, sets *q and *index. */
static inline double mills_taylor(double u, double last, double *q, int32_t *index) {
    double e = u < MILLS_TABLE_MAX ? u : MILLS_TABLE_MAX; /* np.fmin: NaN maps into the table too */
    double u0 = rint(e * MILLS_TABLE_PER_UNIT);
    double clipped = u0 > 0.0 ? u0 : 0.0;
    *index = (int32_t)(clipped < last ? clipped : last);
    u0 *= 1.0 / MILLS_TABLE_PER_UNIT;
    e -= u0;
    double v = u0 * u0, e2 = e * e;
    /* P = 1 + u0 e + (u0^2 + 1) e^2/2 + (u0^3 + 3 u0) e^3/6 + (u0^4 + 6 u0^2 + 3) e^4/24,
     * Q = e + u0 e^2/2 + (u0^2 + 2) e^3/6 + (u0^3 + 5 u0) e^4/24 */
    *q = e + e2 * ((u0 * 0.5 + (v + 2.0) * (1.0 / 6.0) * e) + u0 * (v + 5.0) * (1.0 / 24.0) * e2);
    return (1.0 + u0 * e) + e2 * (((v + 1.0) * 0.5 + u0 * (v + 3.0) * (1.0 / 6.0) * e) +
                                  (v * (v + 6.0) + 3.0) * (1.0 / 24.0) * e2);
}

/* R(u) for u > 40: Cody's large-argument rational function (as pricing._mills_ratio_cody). */
static double mills_beyond_table(double u) {
    double a = u * SQRT_HALF;
    double z = 1.0 / (a * a);
    double tail = polynomial(z, MILLS_LARGE_NUM, 6) * z / monic_polynomial(z, CODY_Q, 5);
    return (SQRT_HALF - tail) / a;
}

/* out[j] = R(u[j]), j < k, u >= 0; beyond the table Cody's function if exact, else R(40) (where
 * callers multiply by phi(u) = 0). The arithmetic in a loop the compiler vectorises, the
 * table loads (which SSE cannot vectorise) in another. */
static void mills_ratios(int k, const double *u, double *out, MillsTable table, int exact) {
    double given[BLOCK], p[BLOCK]; /* out may be u */
    int32_t index[BLOCK];
    for (int j = 0; j < k; ++j) {
        given[j] = u[j];
        p[j] = mills_taylor(given[j], table.last, &out[j], &index[j]);
    }
    for (int j = 0; j < k; ++j)
        out[j] = exact && given[j] > MILLS_TABLE_MAX ? mills_beyond_table(given[j])
                                                     : table.values[index[j]] * p[j] - out[j];
}

/* exp(sign z): Taylor polynomials of degree 3 or 4 for small |z| (rate x hours), else exp. */
static inline double exp_of_small(double z, double sign) {
    double size = fabs(z);
    if (size < TINY_EXPONENT) {
        const double c[4] = {sign * sign * sign / 6.0, 0.5, sign, 1.0};
        return polynomial(z, c, 4);
    }
    if (size < SMALL_EXPONENT) {
        const double c[5] = {1.0 / 24.0, sign / 6.0, 0.5, sign, 1.0};
        return polynomial(z, c, 5);
    }
    return exp(z * sign);
}

/* exp(z), sub-normal results flushed to zero (glibc's slow path); NaN stays NaN. */
static inline double exp_flush(double z) { return z < EXP_MIN_ARG ? 0.0 : exp(z); }

/* z[j] = exp_flush(z[j]) * scale, j < k. */
static void exp_flush_all(int k, double *z, double scale) {
    for (int j = 0; j < k; ++j) z[j] = exp_flush(z[j]) * scale;
}

static inline double sign_of(double v) { return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : v); }

/* ------------------------------------------------------------------------------------------ */
/* Prices and Greeks                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Price, delta, gamma, vega, theta, rho as vol sqrt(t) -> 0, NaN for invalid inputs
 * (pricing._zero_variance_limits). */
static void zero_variance_limits(double spot, double strike, double t, double rate, double q,
                                 double vol, double phi, double g[6]) {
    int valid = isfinite(spot + strike + t + rate + q + vol) && spot > 0.0 && strike > 0.0 &&
                t >= 0.0 && vol >= 0.0;
    if (!valid) {
        for (int k = 0; k < 6; ++k) g[k] = NAN;
        return;
    }
    int expired = t == 0.0;
    double df_r = exp(-rate * t), df_q = exp(-q * t);
    double spot_q = spot * df_q, strike_r = strike * df_r;
    double moneyness = expired ? sign_of(phi * (spot - strike)) : sign_of(phi * (spot_q - strike_r));
    double weight = 0.5 * (moneyness + 1.0);
    int atm_live = !expired && moneyness == 0.0;
    g[0] = weight * phi * (spot_q - strike_r);
    g[1] = weight * phi * df_q;
    g[2] = atm_live ? INFINITY : 0.0;
    g[3] = atm_live ? spot_q * sqrt(t) * INV_SQRT_TWO_PI : 0.0;
    g[4] = expired ? 0.0 : weight * phi * (q * spot_q - rate * strike_r);
    g[5] = expired ? 0.0 : weight * phi * strike_r * t;
}

int pk_abi_version(void) { return PK_ABI_VERSION; }

/* 3 when this CPU runs x86-64-v3 code (AVX2, FMA, BMI2...), else 2: the loader then takes the build
   compiled for it. Both builds compute bit-identical results (no FP contraction, elementwise only). */
int pk_isa_level(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v3") ? 3 : 2;
}

/* R(u) for u >= 0 (Cody beyond the table): the normal tail behind every result, exported for tests. */
void pk_mills_ratio(int64_t n, const double *u, double *out, const double *table, int64_t table_size) {
    MillsTable mills = {table, (double)(table_size - 1)};
    for (int64_t lo = 0; lo < n; lo += BLOCK)
        mills_ratios(n - lo < BLOCK ? (int)(n - lo) : BLOCK, u + lo, out + lo, mills, 1);
}

/* Rows of out (each n long): price and, if rows == 8, delta, gamma, vega, vega per vol point, theta
 * per year, theta per minute, rho. in = spot, strike, t_years, rate, div_yield, vol; is_call bytes.
 * Returns a bit mask of inputs out of their domain (0: none; the caller then raises and drops out).
 * Blocks of BLOCK elements go through short passes, one step of the formulas each (as the numpy
 * backend's ufuncs): iterations of a pass are independent, so the compiler vectorises the arithmetic
 * and the processor overlaps the rest, instead of waiting on one element's chain of operations. */
int64_t pk_bsm(int64_t n, const double *const in[6], const int64_t stride[6], const uint8_t *is_call,
               int64_t call_stride, const double *table, int64_t table_size, int64_t rows, double *out) {
    MillsTable mills = {table, (double)(table_size - 1)};
    int64_t outside = 0; /* inputs out of their domain: bit 0 spot <= 0, 1 strike <= 0, 2 t < 0, 3 vol < 0 */
    double spot[BLOCK], t[BLOCK], rate[BLOCK], q[BLOCK], vol[BLOCK], phi[BLOCK], sqrt_t[BLOCK];
    double sd[BLOCK], df_q[BLOCK], spot_q[BLOCK], strike_r[BLOCK], ratio[BLOCK], h[BLOCK];
    double d1[BLOCK], d2[BLOCK], pdf1[BLOCK], pdf2[BLOCK], cdf1[BLOCK], cdf2[BLOCK];
    /* Results are staged beside the scratch arrays and copied out once per block: written straight
       to `out`, a store stream whose address matched a scratch array's modulo 4 KiB (where the
       caller's allocation happened to land) stalled the loads of later passes, doubling the time. */
    double staged[8][BLOCK];
    for (int64_t lo = 0; lo < n; lo += BLOCK) {
        int m = n - lo < BLOCK ? (int)(n - lo) : BLOCK, irregular = 0;
        for (int j = 0; j < m; ++j) {
            int64_t i = lo + j;
            double strike = in[1][i * stride[1]];
            spot[j] = in[0][i * stride[0]];
            t[j] = in[2][i * stride[2]];
            rate[j] = in[3][i * stride[3]];
            q[j] = in[4][i * stride[4]];
            vol[j] = in[5][i * stride[5]];
            phi[j] = is_call[i * call_stride] ? 1.0 : -1.0;
            sqrt_t[j] = sqrt(t[j]);
            sd[j] = vol[j] * sqrt_t[j]; /* total standard deviation s = vol sqrt(t) */
            /* Positive finite inputs take the formulas; the rest is fixed up at the end. */
            irregular |= !(sd[j] > 0.0 && spot[j] > 0.0 && strike > 0.0 &&
                           isfinite(sd[j] + spot[j] + strike + t[j] + rate[j] + q[j]));
            df_q[j] = exp_of_small(q[j] * t[j], -1.0);
            spot_q[j] = spot[j] * df_q[j];                              /* S e^(-q t) */
            strike_r[j] = strike * exp_of_small(rate[j] * t[j], -1.0); /* K e^(-r t) */
            ratio[j] = spot_q[j] / strike_r[j];                         /* F / K */
        }
        for (int j = 0; j < m; ++j) h[j] = log(ratio[j]);
        for (int j = 0; j < m; ++j) {
            h[j] /= sd[j]; /* ln(F/K) / s */
            double half_sd = sd[j] * 0.5;
            d1[j] = h[j] + half_sd;
            d2[j] = h[j] - half_sd;
            double sq1 = d1[j] * d1[j], sq2 = d2[j] * d2[j];
            /* phi(d1) = phi(d2) K/F: exponentiate the smaller |d| so neither underflows early. */
            pdf1[j] = (sq1 < sq2 ? sq1 : sq2) * -0.5;
            d1[j] *= phi[j];
            d2[j] *= phi[j];
            cdf1[j] = fabs(d1[j]);
            cdf2[j] = fabs(d2[j]);
        }
        exp_flush_all(m, pdf1, INV_SQRT_TWO_PI);
        for (int j = 0; j < m; ++j) {
            double inverse = strike_r[j] / spot_q[j];
            pdf2[j] = (ratio[j] < 1.0 ? ratio[j] : 1.0) * pdf1[j];
            pdf1[j] = (inverse < 1.0 ? inverse : 1.0) * pdf1[j];
        }
        mills_ratios(m, cdf1, cdf1, mills, 0); /* phi(u) = 0 beyond the table */
        mills_ratios(m, cdf2, cdf2, mills, 0);
        double *price = staged[0];
        for (int j = 0; j < m; ++j) {
            /* Phi(z) = Phi(-|z|) + [z > 0] (1 - 2 Phi(-|z|)), Phi(-|z|) = phi(z) R(|z|). */
            double tail1 = cdf1[j] * pdf1[j], tail2 = cdf2[j] * pdf2[j];
            cdf1[j] = d1[j] > 0.0 ? tail1 + (tail1 * -2.0 + 1.0) : tail1;
            cdf2[j] = d2[j] > 0.0 ? tail2 + (tail2 * -2.0 + 1.0) : tail2;
            double value = (spot_q[j] * cdf1[j] - strike_r[j] * cdf2[j]) * phi[j];
            price[j] = value < 0.0 ? 0.0 : value; /* rounding in the sub-normal tail */
        }
        if (rows == 8) {
            double *delta = staged[1], *gamma = staged[2], *vega = staged[3];
            double *vega_pt = staged[4], *theta = staged[5], *theta_min = staged[6];
            double *rho = staged[7];
            for (int j = 0; j < m; ++j) {
                double a1 = spot_q[j] * cdf1[j], a2 = strike_r[j] * cdf2[j];
                double spot_pdf = pdf1[j] * spot_q[j]; /* shared by gamma, vega and theta */
                delta[j] = df_q[j] * cdf1[j] * phi[j];
                gamma[j] = spot_pdf / (sd[j] * spot[j] * spot[j]);
                vega[j] = spot_pdf * sqrt_t[j];
                vega_pt[j] = vega[j] * 0.01;
                theta[j] = (a1 * q[j] - a2 * rate[j]) * phi[j] - spot_pdf * vol[j] / sqrt_t[j] * 0.5;
                theta_min[j] = theta[j] * (1.0 / MINUTES_PER_YEAR);
                rho[j] = strike_r[j] * t[j] * cdf2[j] * phi[j];
            }
        }
        for (int j = 0; irregular && j < m; ++j) { /* zero variance or invalid input: rare */
            int64_t i = lo + j;
            double strike = in[1][i * stride[1]];
            outside |= (int64_t)(spot[j] <= 0.0) | (int64_t)(strike <= 0.0) << 1 | (int64_t)(t[j] < 0.0) << 2 |
                       (int64_t)(vol[j] < 0.0) << 3; /* NaN compares false: a missing value, not an error */
            if (sd[j] > 0.0 && spot[j] > 0.0 && strike > 0.0 &&
                isfinite(sd[j] + spot[j] + strike + t[j] + rate[j] + q[j]))
                continue;
            double g[6];
            zero_variance_limits(spot[j], strike, t[j], rate[j], q[j], vol[j], phi[j], g);
            staged[0][j] = g[0];
            if (rows == 8) {
                for (int k = 1; k < 4; ++k) staged[k][j] = g[k];
                staged[4][j] = g[3] * 0.01;
                staged[5][j] = g[4];
                staged[6][j] = g[4] / MINUTES_PER_YEAR;
                staged[7][j] = g[5];
            }
        }
        for (int64_t r = 0; r < rows; ++r) memcpy(out + r * n + lo, staged[r], (size_t)m * sizeof(double));
    }
    return outside;
}

/* ------------------------------------------------------------------------------------------ */
/* Implied volatility                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* b, b_max - b, b', b''/b', b'''/b' (derivatives in s) of k elements. */
typedef struct {
    double b[BLOCK], gap[BLOCK], vega[BLOCK], b2[BLOCK], b3[BLOCK];
} Black;

/* Normalised out-of-the-money Black price b(x, s), x <= 0, and its derivatives, of k elements
 * (pricing._black_normalised): with h = x/s, t = s/2, the Mills ratio R and b' = phi(h) phi(t)
 * sqrt(2 pi): b = b' [R(-h-t) - R(t-h)] when h + t <= 0, else b_max - b = b' [R(h+t) + R(t-h)].
 * b'''/b' only if third. */
static void black_normalised(int k, const double *x, const double *sd, const double *b_max,
                             MillsTable mills, int third, Black *out) {
    double above[BLOCK], r1[BLOCK], r2[BLOCK];
    for (int j = 0; j < k; ++j) {
        double h = x[j] / sd[j], t = sd[j] * 0.5;
        double h2 = h * h, t2 = t * t;
        out->vega[j] = (h2 + t2) * -0.5;
        double sum = h + t;
        above[j] = sum > 0.0 ? 1.0 : 0.0; /* above the inflection point s_c */
        r1[j] = fabs(sum);
        r2[j] = t - h;
        out->b2[j] = (h2 - t2) / sd[j];
        if (third) out->b3[j] = out->b2[j] * out->b2[j] - (h2 * 3.0 + t2) / (sd[j] * sd[j]);
    }
    exp_flush_all(k, out->vega, INV_SQRT_TWO_PI);
    mills_ratios(k, r1, r1, mills, 1);
    mills_ratios(k, r2, r2, mills, 1);
    for (int j = 0; j < k; ++j) {
        double diff = ((above[j] * 2.0 - 1.0) * r2[j] + r1[j]) * out->vega[j];
        double other = b_max[j] - diff; /* the other one of b and b_max - b */
        out->b[j] = above[j] > 0.0 ? other : diff;
        out->gap[j] = above[j] > 0.0 ? diff : other;
    }
}

/* Delbourgo-Gregory rational cubic (pricing._rational_cubic). */
static inline double rational_cubic(double tau, double omega, double width, double y_l, double y_r,
                                    double d_l, double d_r, double r) {
    double a = ((r * y_r - width * d_r) * omega + y_r * tau) * (tau * tau);
    double out = ((r * y_l + width * d_l) * tau + omega * y_l) * (omega * omega) + a;
    return out / (((r - 3.0) * tau) * omega + 1.0);
}

/* np.fmax: the larger, or the one that is not NaN. */
static inline double max_ignoring_nan(double a, double b) {
    double larger = a > b ? a : b; /* b if a is NaN */
    return larger == larger ? larger : a;
}

/* Shape-preserving lower bounds on r (pricing._shape_preserving_r). */
static inline double shape_preserving_r(double r, double d_l, double d_r, double slope) {
    r = max_ignoring_nan(r, (d_r + d_l) / slope);
    double ratio = (d_r - slope) / (slope - d_l);
    r = max_ignoring_nan(r, ratio);
    r = max_ignoring_nan(r, 1.0 / ratio);
    return r < MAX_SHAPE_PARAMETER ? r : MAX_SHAPE_PARAMETER;
}

/* Phi^-1(p) for 0 < p <= 0.5 given ln p, of k elements (pricing._inverse_norm_cdf_lower; ~1e-9
 * relative): both of Acklam's branches in a loop the compiler vectorises, the exp of the central one
 * before. NaN leaves out as it was. */
static void inverse_norm_cdfs_lower(int k, const double *log_p, double *out) {
    double centre[BLOCK];
    for (int a = 0; a < k; ++a) centre[a] = log_p[a] >= ACKLAM_LOG_P_LOW ? exp(log_p[a]) : 0.0;
    for (int a = 0; a < k; ++a) {
        double q = sqrt(-2.0 * log_p[a]);
        double tail = polynomial(q, ACKLAM_C, 6) / polynomial(q, ACKLAM_D, 5);
        q = centre[a] - 0.5;
        double r = q * q;
        double middle = polynomial(r, ACKLAM_A, 6) * q / polynomial(r, ACKLAM_B, 6);
        out[a] = log_p[a] < ACKLAM_LOG_P_LOW ? tail : (log_p[a] >= ACKLAM_LOG_P_LOW ? middle : out[a]);
    }
}

/* Lower-region guesses of k elements (pricing._guess_lower): Jaeckel's lower map f = c|x| Phi(z)^3,
 * z = x/(sqrt(3) s), interpolated in beta (f ~ beta as beta -> 0; f and its first two derivatives
 * matched at b_l), then inverted exactly. With R = R(-z): f'/f = -3z/(R s), f''/f = (f'/f)(z^2 - 2 -
 * 2z/R)/s. */
static void guess_lower(int k, const double *beta, const double *x, const double *s_l, const double *b_l,
                        const double *v_l, const double *b2_l, MillsTable mills, double *sd) {
    double z[BLOCK], m[BLOCK], f[BLOCK];
    for (int a = 0; a < k; ++a) {
        z[a] = x[a] / s_l[a] * (1.0 / SQRT_THREE);
        m[a] = -z[a];
        f[a] = z[a] * z[a] * -0.5;
    }
    mills_ratios(k, m, m, mills, 1);
    exp_flush_all(k, f, INV_SQRT_TWO_PI);
    for (int a = 0; a < k; ++a) {
        double phi_z = f[a] * m[a]; /* Phi(z) */
        double scale = x[a] * -LOWER_MAP_SCALE;
        double f_l = phi_z * (phi_z * phi_z) * scale; /* f(s_l) */
        double g1 = -z[a] * 3.0 / m[a] / s_l[a];       /* f'/f */
        double g2 = ((z[a] / m[a] * -2.0 + z[a] * z[a]) - 2.0) * g1 / s_l[a]; /* f''/f */
        double d_r = g1 / v_l[a] * f_l;                /* df/dbeta at b_l */
        g2 = (g2 - g1 * b2_l[a]) * f_l / v_l[a] / v_l[a]; /* d2f/dbeta2 = f (f''/f - f'/f b''/b') / b'^2 */
        double slope = f_l / b_l[a];
        /* Fit the second derivative at b_l: r = (b_l y''/2 + d_r - d_l) / (d_r - slope), d_l = 1. */
        double r = ((g2 * b_l[a] * 0.5 + d_r) - 1.0) / (d_r - slope);
        r = shape_preserving_r(r, 1.0, d_r, slope);
        double tau = beta[a] / b_l[a], omega = (b_l[a] - beta[a]) / b_l[a];
        f[a] = rational_cubic(tau, omega, b_l[a], 0.0, f_l, 1.0, d_r, r) / scale; /* f(beta) / scale */
    }
    for (int a = 0; a < k; ++a) f[a] = log(f[a]) * (1.0 / 3.0); /* ln Phi(z(beta)) */
    inverse_norm_cdfs_lower(k, f, z);
    for (int a = 0; a < k; ++a) sd[a] = x[a] / (z[a] * SQRT_THREE);
}

/* Middle-region guesses of k elements (pricing._guess_middle): s(beta) between b_c and the tangent
 * bound b_u, a rational cubic in beta with s'' = 0 at the inflection point b_c. */
static void guess_middle(int k, const double *beta, const double *s_c, const double *b_c, const double *b_max,
                         const double *s_u, const double *b_u, const double *v_u, double *sd) {
    for (int a = 0; a < k; ++a) {
        double width = b_u[a] - b_c[a];
        double tau = (beta[a] - b_c[a]) / width, omega = (b_u[a] - beta[a]) / width;
        double d_l = SQRT_TWO_PI / b_max[a], d_r = 1.0 / v_u[a]; /* ds/dbeta at both ends */
        double slope = (s_u[a] - s_c[a]) / width;
        double r = (d_r - d_l) / (slope - d_l); /* s''(b_c) = 0 */
        r = shape_preserving_r(r, d_l, d_r, slope);
        sd[a] = rational_cubic(tau, omega, width, s_c[a], s_u[a], d_l, d_r, r);
    }
}

/* Upper-region guesses of k elements (pricing._guess_upper): the upper map f = Phi(-s/2) interpolated
 * in beta (slope -1/2 at b_max; f and its first two derivatives matched at b_u), then inverted. */
static void guess_upper(int k, const double *beta, const double *b_max, const double *s_u,
                        const double *gap_u, const double *v_u, const double *b2_u, MillsTable mills,
                        double *sd) {
    double half[BLOCK], pdf[BLOCK], f[BLOCK];
    for (int a = 0; a < k; ++a) {
        half[a] = s_u[a] * 0.5;
        pdf[a] = half[a] * half[a] * -0.5;
        sd[a] = NAN;
    }
    mills_ratios(k, half, f, mills, 1);
    exp_flush_all(k, pdf, INV_SQRT_TWO_PI);
    for (int a = 0; a < k; ++a) {
        double f_u = f[a] * pdf[a];              /* f(s_u) */
        double d_l = pdf[a] / v_u[a] * -0.5;      /* df/dbeta = f'/b' with f' = -pdf/2 */
        /* d2f/dbeta2 = (f'' - f' b''/b') / b'^2 with f'' = s pdf / 8 */
        double y2 = (b2_u[a] * 0.5 + s_u[a] * 0.125) * pdf[a] / v_u[a] / v_u[a];
        double slope = -(f_u / gap_u[a]);
        /* Fit the second derivative at b_u: r = (width y''/2 + d_r - d_l) / (slope - d_l), d_r = -1/2. */
        double r = ((y2 * gap_u[a] * 0.5 - 0.5) - d_l) / (slope - d_l);
        r = shape_preserving_r(r, d_l, -0.5, slope);
        double tau = (gap_u[a] - b_max[a] + beta[a]) / gap_u[a], omega = (b_max[a] - beta[a]) / gap_u[a];
        f[a] = rational_cubic(tau, omega, gap_u[a], f_u, 0.0, d_l, -0.5, r);
    }
    for (int a = 0; a < k; ++a) f[a] = log(f[a]);
    inverse_norm_cdfs_lower(k, f, sd);
    for (int a = 0; a < k; ++a) sd[a] *= -2.0;
}

/* Solve b(x, s) = beta for s on k elements, x <= 0 < beta < b_max (pricing._normalised_implied_sd):
 * the inflection point s_c and the tangents there split beta into lower, middle and upper regions,
 * each with its own rational guess and objective function, on which `steps` Householder(3) steps
 * run. Fills sd, vega (b' at the last evaluation) and converged (the last step was tiny). As in
 * pricing.py the elements are grouped by region, so that each region's passes run on a contiguous
 * slice (and vectorise). */
static void normalised_implied_sd(int k, const double *beta_in, const double *x_in,
                                  const double *b_max_in, int steps, MillsTable mills, double *sd_out,
                                  double *vega_out, uint8_t *converged_out) {
    double s_c_in[BLOCK], b_c_in[BLOCK], s_bound_in[BLOCK];
    double beta[BLOCK], x[BLOCK], b_max[BLOCK], s_c[BLOCK], b_c[BLOCK], s_bound[BLOCK];
    double b_bound[BLOCK], gap_bound[BLOCK], v_bound[BLOCK], b2_bound[BLOCK];
    double sd[BLOCK], log_target[BLOCK], step[BLOCK], newton[BLOCK], tmp[BLOCK];
    int order[BLOCK], region[BLOCK];
    Black c; /* the bound, then the current iterate */
    for (int j = 0; j < k; ++j) s_c_in[j] = sqrt(x_in[j] * -2.0);
    mills_ratios(k, s_c_in, s_bound_in, mills, 1); /* R(s_c) */
    for (int j = 0; j < k; ++j) {
        b_c_in[j] = (s_bound_in[j] * -INV_SQRT_TWO_PI + 0.5) * b_max_in[j]; /* b(x, s_c) */
        /* Where the tangent at s_c meets 0 (below b_c) or b_max (above). */
        double tangent = beta_in[j] < b_c_in[j] ? -SQRT_HALF_PI : SQRT_HALF_PI;
        s_bound_in[j] = (tangent + s_c_in[j]) + s_bound_in[j];
    }
    black_normalised(k, x_in, s_bound_in, b_max_in, mills, 0, &c);
    int count[4] = {0, 0, 0, 0};
    for (int j = 0; j < k; ++j) { /* 0 lower, 1 and 2 middle, 3 upper */
        region[j] = (beta_in[j] < b_c_in[j] ? 0 : 2) + (beta_in[j] > c.b[j]);
        ++count[region[j]];
    }
    int n_lower = count[0], upper = count[0] + count[1] + count[2]; /* where the regions start */
    int next[4] = {0, count[0], count[0] + count[1], upper};
    for (int j = 0; j < k; ++j) order[next[region[j]]++] = j;
    for (int a = 0; a < k; ++a) {
        int j = order[a];
        beta[a] = beta_in[j], x[a] = x_in[j], b_max[a] = b_max_in[j], s_c[a] = s_c_in[j];
        b_c[a] = b_c_in[j], s_bound[a] = s_bound_in[j], b_bound[a] = c.b[j], gap_bound[a] = c.gap[j];
        v_bound[a] = c.vega[j], b2_bound[a] = c.b2[j];
    }
    guess_lower(n_lower, beta, x, s_bound, b_bound, v_bound, b2_bound, mills, sd);
    for (int a = 0; a < n_lower; ++a) log_target[a] = log(beta[a]);
    int mid = n_lower;
    guess_middle(upper - mid, beta + mid, s_c + mid, b_c + mid, b_max + mid, s_bound + mid, b_bound + mid,
                 v_bound + mid, sd + mid);
    guess_upper(k - upper, beta + upper, b_max + upper, s_bound + upper, gap_bound + upper, v_bound + upper,
                b2_bound + upper, mills, sd + upper);
    for (int a = upper; a < k; ++a) log_target[a] = log(b_max[a] - beta[a]);
    for (int a = 0; a < k; ++a) {
        step[a] = INFINITY; /* no step taken is no convergence */
        vega_out[order[a]] = NAN;
    }
    for (int it = 0; it < steps; ++it) {
        black_normalised(k, x, sd, b_max, mills, 1, &c);
        /* Newton step n and h2 = g''/g', h3 = g'''/g' (in c.b2, c.b3) of the objective g */
        for (int a = 0; a < n_lower; ++a) tmp[a] = log(c.b[a]);
        for (int a = 0; a < n_lower; ++a) { /* g = 1/ln(b) - 1/ln(beta): nearly linear in s^2 */
            double log_b = tmp[a], lam = c.vega[a] / c.b[a];
            newton[a] = (log_target[a] - log_b) * log_b / log_target[a] / lam;
            c.b3[a] -= (lam * (-2.0 / 3.0) + c.b2[a]) * lam * 3.0;
            c.b2[a] -= lam;
            double rho = lam / log_b;
            c.b3[a] -= (c.b2[a] - rho) * rho * 6.0;
            c.b2[a] -= rho * 2.0;
        }
        for (int a = n_lower; a < upper; ++a) newton[a] = (beta[a] - c.b[a]) / c.vega[a]; /* g = b - beta */
        for (int a = upper; a < k; ++a) tmp[a] = log(c.gap[a]);
        for (int a = upper; a < k; ++a) { /* g = ln(b_max - b) - ln(b_max - beta): flat approach */
            double mu = -(c.vega[a] / c.gap[a]);
            newton[a] = (log_target[a] - tmp[a]) / mu;
            c.b3[a] -= (mu * (-2.0 / 3.0) + c.b2[a]) * mu * 3.0;
            c.b2[a] -= mu;
        }
        for (int a = 0; a < k; ++a) { /* Householder(3): s += n (1 + h2 n / 2) / (1 + n (h2 + h3 n / 6)) */
            double nt = newton[a];
            step[a] = (c.b2[a] * nt * 0.5 + 1.0) * nt / ((c.b3[a] * nt * (1.0 / 6.0) + c.b2[a]) * nt + 1.0);
            sd[a] += step[a];
        }
        for (int a = 0; a < k; ++a) vega_out[order[a]] = c.vega[a];
    }
    for (int a = 0; a < k; ++a) {
        int j = order[a];
        sd_out[j] = sd[a];
        converged_out[j] =
            fabs(step[a]) <= sd[a] * MAX_STEP_AFTER_CONVERGENCE && sd[a] > 0.0 && sd[a] < INFINITY;
    }
}

/* vol (NaN unless OK) and IVStatus per element. in = price, spot, strike, t_years, rate, div_yield.
 * Returns a bit mask of inputs out of their domain (spot, strike <= 0, t < 0; 0: none).
 * Per block: classify and normalise every element, then solve those that are OK together. */
int64_t pk_implied_vol(int64_t n, const double *const in[6], const int64_t stride[6],
                       const uint8_t *is_call, int64_t call_stride, int64_t steps, const double *table,
                       int64_t table_size, double *vol, int8_t *status) {
    MillsTable mills = {table, (double)(table_size - 1)};
    int64_t outside = 0; /* inputs out of their domain: bit 1 spot <= 0, 2 strike <= 0, 3 t < 0 */
    double price[BLOCK], spot[BLOCK], strike[BLOCK], t[BLOCK], rate[BLOCK], q[BLOCK], call[BLOCK];
    double df_r[BLOCK], growth[BLOCK], beta[BLOCK], b_max[BLOCK], noise[BLOCK], sqrt_fk[BLOCK], code[BLOCK];
    double beta_k[BLOCK], x_k[BLOCK], b_max_k[BLOCK], rounding_k[BLOCK], t_k[BLOCK], sd[BLOCK], vega[BLOCK];
    uint8_t converged[BLOCK];
    int64_t todo[BLOCK];
    for (int64_t lo = 0; lo < n; lo += BLOCK) {
        int m = n - lo < BLOCK ? (int)(n - lo) : BLOCK, k = 0;
        for (int j = 0; j < m; ++j) {
            int64_t i = lo + j;
            price[j] = in[0][i * stride[0]], spot[j] = in[1][i * stride[1]], strike[j] = in[2][i * stride[2]];
            t[j] = in[3][i * stride[3]], rate[j] = in[4][i * stride[4]], q[j] = in[5][i * stride[5]];
            call[j] = is_call[i * call_stride] ? 1.0 : 0.0;
            outside |= (int64_t)(spot[j] <= 0.0) << 1 | (int64_t)(strike[j] <= 0.0) << 2 | (int64_t)(t[j] < 0.0) << 3;
            df_r[j] = exp_of_small(rate[j] * t[j], -1.0);
            growth[j] = exp_of_small((rate[j] - q[j]) * t[j], 1.0); /* F / S */
        }
        for (int j = 0; j < m; ++j) {
            double phi = call[j] * 2.0 - 1.0;
            double fwd = growth[j] * spot[j];
            double undiscounted = price[j] / df_r[j];
            double intrinsic = (fwd - strike[j]) * phi;
            double itm = intrinsic > 0.0 ? 1.0 : 0.0;
            intrinsic = intrinsic < 0.0 ? 0.0 : intrinsic;
            double time_value = undiscounted - intrinsic;
            /* Rounding of F - K (and of the price) is the only noise in an in-the-money time value. */
            noise[j] = (undiscounted + fwd + strike[j]) * (4.0 * EPS) * itm;
            sqrt_fk[j] = sqrt(fwd * strike[j]);
            double lo_fk = fwd < strike[j] ? fwd : strike[j], hi_fk = fwd < strike[j] ? strike[j] : fwd;
            beta[j] = time_value / sqrt_fk[j];
            b_max[j] = sqrt(lo_fk / hi_fk); /* e^(-|x|/2); NaN if fwd or strike is (lo / hi keeps it) */
            /* The largest code whose condition holds. */
            double c = time_value <= noise[j] ? NO_TIME_VALUE : OK;
            c = time_value < -noise[j] ? BELOW_INTRINSIC : c;
            double maximum = fwd * call[j] + strike[j] * (1.0 - call[j]); /* F (call) or K (put) */
            c = undiscounted >= maximum || beta[j] >= b_max[j] ? ABOVE_MAXIMUM : c;
            c = t[j] > 0.0 ? c : EXPIRED;
            int valid = isfinite(price[j] + spot[j] + strike[j] + t[j] + rate[j] + q[j]) && spot[j] > 0.0 &&
                        strike[j] > 0.0 && price[j] >= 0.0;
            code[j] = valid ? c : INVALID_INPUT;
        }
        for (int j = 0; j < m; ++j) {
            status[lo + j] = (int8_t)code[j];
            vol[lo + j] = NAN;
            if (code[j] == OK) { /* to solve: out of the money in Black space */
                x_k[k] = spot[j] / strike[j];
                beta_k[k] = beta[j];
                b_max_k[k] = b_max[j];
                rounding_k[k] = noise[j] / sqrt_fk[j]; /* in units of beta */
                t_k[k] = t[j];
                todo[k++] = lo + j;
            }
        }
        for (int j = 0; j < k; ++j) {
            int64_t i = todo[j] - lo;
            x_k[j] = -fabs(log(x_k[j]) + (rate[i] - q[i]) * t[i]); /* -|ln(F/K)| */
        }
        normalised_implied_sd(k, beta_k, x_k, b_max_k, (int)steps, mills, sd, vega, converged);
        for (int j = 0; j < k; ++j) {
            int64_t i = todo[j];
            /* Relative vol error that rounding of the inputs alone could cause. */
            double error = (rounding_k[j] + (4.0 * EPS) * beta_k[j]) / sd[j] / vega[j];
            if (!converged[j]) {
                status[i] = NOT_CONVERGED;
            } else if (error > MAX_ROUNDING_TO_VOL) {
                status[i] = ILL_CONDITIONED;
            } else {
                vol[i] = sd[j] / sqrt(t_k[j]);
            }
        }
    }
    return outside;
}
