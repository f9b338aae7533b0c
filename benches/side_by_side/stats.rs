//! Percentiles of one run and the median and range over repetitions.

/// Latencies in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u32>);

impl Latencies {
    pub fn push(&mut self, d: std::time::Duration) {
        self.0.push(d.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `q` quantile (0..=1) in milliseconds; NaN when empty.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
        f64::from(self.0[i]) / 1000.0
    }
}

/// One figure over repetitions: median, lowest and highest.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            low: v[0],
            high: v[n - 1],
        }
    }

    /// `median (low–high)` with `digits` decimals, or the value alone
    /// when all repetitions agree.
    pub fn show(&self, digits: usize) -> String {
        if self.median.is_nan() {
            return "–".into();
        }
        let f = |x: f64| group(x, digits);
        if (self.high - self.low).abs() < f64::EPSILON {
            f(self.median)
        } else {
            format!("{} ({}–{})", f(self.median), f(self.low), f(self.high))
        }
    }
}

/// A number with thousands separators: 123456.7 → "123,457" (digits 0).
pub fn group(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(a, b)| (a, b));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{out}")
    } else {
        format!("{sign}{out}.{frac}")
    }
}

/// The figures' arithmetic, checked before every run (a bench has no
/// test harness of its own).
pub fn self_check() -> anyhow::Result<()> {
    let mut l = Latencies((1..=1000).map(|i| i * 1000).collect());
    anyhow::ensure!(
        (
            l.quantile_ms(0.5),
            l.quantile_ms(0.99),
            l.quantile_ms(0.999)
        ) == (500.0, 990.0, 999.0),
        "quantiles"
    );
    let s = Spread::of(&[3.0, 1.0, 2.0]);
    anyhow::ensure!((s.median, s.low, s.high) == (2.0, 1.0, 3.0), "spread");
    anyhow::ensure!(group(1234567.0, 0) == "1,234,567", "grouping");
    anyhow::ensure!(
        Spread::of(&[5.0, 5.0, 5.0]).show(1) == "5.0",
        "a spread of one value"
    );
    Ok(())
}
