using Xunit;

namespace SamRealtime.Tests;

/// <summary>Random data and error metrics for comparing kernels with their CPU references.</summary>
public static class Reference
{
    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Rounds to fp16 and back, as an fp16-storage tensor would hold the values.</summary>
    public static float[] ToHalf(float[] a) => a.Select(v => (float)(Half)v).ToArray();

    /// <summary>ncnn-style elementwise check: |got - want| &lt;= atol + rtol·|want| everywhere.</summary>
    public static void AssertClose(double[] want, float[] got, double atol, double rtol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        int bad = -1;
        double worst = 0;
        for (int i = 0; i < want.Length; i++)
        {
            double err = Math.Abs(got[i] - want[i]);
            double excess = err - (atol + rtol * Math.Abs(want[i]));
            if (double.IsNaN(got[i]) || excess > worst) { worst = double.IsNaN(got[i]) ? double.PositiveInfinity : excess; bad = i; }
        }
        if (bad >= 0)
            Assert.Fail($"{what}: element {bad} is {got[bad]}, expected {want[bad]} (atol {atol}, rtol {rtol}).");
    }

    public static void AssertClose(float[] want, float[] got, double atol, double rtol, string what) =>
        AssertClose(want.Select(v => (double)v).ToArray(), got, atol, rtol, what);

    /// <summary>Normalised MSE: sum (got-want)² / sum want², for reductions whose rounding spreads over many terms.</summary>
    public static double Nmse(double[] want, float[] got)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return den == 0 ? num : num / den;
    }

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>erf to double precision (series / continued fraction), independent of the shader's approximation.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            double sum = ax, term = ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -ax * ax / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17) break;
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc continued fraction (Lentz), accurate for large |x|.
            double f = ax, c = ax, d = 0;
            for (int n = 1; n < 200; n++)
            {
                double an = n / 2.0;
                d = ax + an * d; d = 1 / d;
                c = ax + an / c;
                double delta = c * d;
                f *= delta;
                if (Math.Abs(delta - 1) < 1e-16) break;
            }
            r = 1 - Math.Exp(-ax * ax) / (f * Math.Sqrt(Math.PI));
        }
        return x < 0 ? -r : r;
    }

    /// <summary>LayerNorm of each row of <paramref name="x"/> [rows, c], in double.</summary>
    public static double[] LayerNorm(float[] x, float[] g, float[] b, int rows, int c, double eps)
    {
        var y = new double[rows * c];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, v = 0;
            for (int j = 0; j < c; j++) mean += x[r * c + j];
            mean /= c;
            for (int j = 0; j < c; j++) v += (x[r * c + j] - mean) * (x[r * c + j] - mean);
            double rstd = 1 / Math.Sqrt(v / c + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - mean) * rstd * g[j] + b[j];
        }
        return y;
    }
}
