namespace SamRealtime.Tracking;

/// <summary>
/// A constant-velocity Kalman filter on an object's box as (centre x, centre y, aspect w/h, height) and their
/// velocities per frame — SORT's and SAMURAI's motion model. Noise scales with the box height (a large, near object
/// moves more pixels), as theirs does. The tracker feeds it only accepted, complete (not edge-clipped) masks and lets
/// it coast through the others, so where a lost object should be now is its prediction.
/// </summary>
internal sealed class BoxKalman
{
    private const int N = 8;
    private const double PositionWeight = 1.0 / 20, VelocityWeight = 1.0 / 160;
    private readonly double[] _x = new double[N];
    private readonly double[,] _p = new double[N, N];

    public bool Initialised { get; private set; }

    /// <summary>Forgets the state: the next <see cref="Correct"/> starts the filter again.</summary>
    public void Reset() => Initialised = false;

    /// <summary>Box (exclusive ends) the state stands for <paramref name="frames"/> frames ahead.</summary>
    public (float X0, float Y0, float X1, float Y1) Box(int frames = 0)
    {
        double cx = _x[0] + frames * _x[4], cy = _x[1] + frames * _x[5];
        double a = Math.Max(1e-3, _x[2] + frames * _x[6]), h = Math.Max(1, _x[3] + frames * _x[7]);
        double w = a * h;
        return ((float)(cx - w / 2), (float)(cy - h / 2), (float)(cx + w / 2), (float)(cy + h / 2));
    }

    /// <summary>Velocity of the centre, pixels per frame.</summary>
    public (float X, float Y) Velocity => ((float)_x[4], (float)_x[5]);

    /// <summary>Advances one frame: the state moves by its velocity and grows less certain.</summary>
    public void Predict()
    {
        if (!Initialised) return;
        for (int i = 0; i < 4; i++) _x[i] += _x[i + 4];
        Step(_p, _x[3]);
    }

    /// <summary>Where the box's centre will be <paramref name="frames"/> frames ahead and how uncertain a measured
    /// centre there is: the prediction's covariance plus the measurement noise (pixels²), the innovation covariance a
    /// gate on a measurement uses. It grows the longer the filter coasts.</summary>
    public (double X, double Y, double Sxx, double Sxy, double Syy) Centre(int frames)
    {
        var p = (double[,])_p.Clone();
        for (int f = 0; f < frames; f++) Step(p, _x[3]);
        double r = PositionWeight * _x[3];
        return (_x[0] + frames * _x[4], _x[1] + frames * _x[5], p[0, 0] + r * r, p[0, 1], p[1, 1] + r * r);
    }

    /// <summary>P = F P Fᵀ + Q with F = [[I, I], [0, I]]; noise scales with the box height <paramref name="h"/>.</summary>
    private static void Step(double[,] p, double h)
    {
        var f = new double[N, N];
        for (int i = 0; i < N; i++) { f[i, i] = 1; if (i < 4) f[i, i + 4] = 1; }
        var next = MulT(Mul(f, p), f);
        var std = new[] { PositionWeight * h, PositionWeight * h, 1e-2, PositionWeight * h, VelocityWeight * h, VelocityWeight * h, 1e-5, VelocityWeight * h };
        for (int i = 0; i < N; i++) next[i, i] += std[i] * std[i];
        Array.Copy(next, p, next.Length);
    }

    /// <summary>Corrects the state with a measured box (exclusive ends); the first one initialises it.</summary>
    public void Correct((int X0, int Y0, int X1, int Y1) box)
    {
        double w = Math.Max(1, box.X1 - box.X0), h = Math.Max(1, box.Y1 - box.Y0);
        var z = new[] { box.X0 + w / 2, box.Y0 + h / 2, w / h, h };
        if (!Initialised)
        {
            Array.Clear(_x);
            Array.Clear(_p);
            for (int i = 0; i < 4; i++) _x[i] = z[i];
            var std = new[] { 2 * PositionWeight * h, 2 * PositionWeight * h, 1e-2, 2 * PositionWeight * h,
                              10 * VelocityWeight * h, 10 * VelocityWeight * h, 1e-5, 10 * VelocityWeight * h };
            for (int i = 0; i < N; i++) _p[i, i] = std[i] * std[i];
            Initialised = true;
            return;
        }
        var r = new[] { PositionWeight * h, PositionWeight * h, 1e-1, PositionWeight * h };
        // H = [I 0]: S = P[0..3, 0..3] + R, K = P[:, 0..3] S⁻¹.
        var s = new double[4, 4];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) s[i, j] = _p[i, j] + (i == j ? r[i] * r[i] : 0);
        var si = Invert4(s);
        var k = new double[N, 4];
        for (int i = 0; i < N; i++) for (int j = 0; j < 4; j++) for (int m = 0; m < 4; m++) k[i, j] += _p[i, m] * si[m, j];
        var y = new double[4];
        for (int i = 0; i < 4; i++) y[i] = z[i] - _x[i];
        for (int i = 0; i < N; i++) for (int j = 0; j < 4; j++) _x[i] += k[i, j] * y[j];
        // P = (I - K H) P.
        var p = new double[N, N];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
            {
                double v = _p[i, j];
                for (int m = 0; m < 4; m++) v -= k[i, m] * _p[m, j];
                p[i, j] = v;
            }
        Array.Copy(p, _p, p.Length);
    }

    private static double[,] Mul(double[,] a, double[,] b)
    {
        var c = new double[N, N];
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) for (int m = 0; m < N; m++) c[i, j] += a[i, m] * b[m, j];
        return c;
    }

    private static double[,] MulT(double[,] a, double[,] b)
    {
        var c = new double[N, N];
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) for (int m = 0; m < N; m++) c[i, j] += a[i, m] * b[j, m];
        return c;
    }

    /// <summary>Gauss-Jordan with partial pivoting (S is symmetric positive definite, so it never meets a zero pivot).</summary>
    private static double[,] Invert4(double[,] s)
    {
        var a = new double[4, 8];
        for (int i = 0; i < 4; i++) { for (int j = 0; j < 4; j++) a[i, j] = s[i, j]; a[i, 4 + i] = 1; }
        for (int c = 0; c < 4; c++)
        {
            int piv = c;
            for (int i = c + 1; i < 4; i++) if (Math.Abs(a[i, c]) > Math.Abs(a[piv, c])) piv = i;
            for (int j = 0; j < 8; j++) (a[c, j], a[piv, j]) = (a[piv, j], a[c, j]);
            double d = a[c, c];
            for (int j = 0; j < 8; j++) a[c, j] /= d;
            for (int i = 0; i < 4; i++)
            {
                if (i == c) continue;
                double f = a[i, c];
                for (int j = 0; j < 8; j++) a[i, j] -= f * a[c, j];
            }
        }
        var inv = new double[4, 4];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) inv[i, j] = a[i, 4 + j];
        return inv;
    }
}
