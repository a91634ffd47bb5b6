/* The classic float mean: one float accumulator, one add per value, in order.
 *
 * benches/compare.py compiles this file at run time (cc -O2 -shared -fPIC) and
 * calls it through ctypes. Without -ffast-math the compiler keeps the adds in
 * order, so this is the loop as written, not a vectorised reassociation.
 */
#include <stddef.h>

/* The textbook mean of n floats. */
float classic_mean(const float *x, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

/* The same loop continuing from the running sum s, so that a column stored in
 * several chunks is summed exactly as one loop over all of its values would sum
 * it: classic_mean(x, n) == classic_sum(x, n, 0) / n.
 */
float classic_sum(const float *x, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}
