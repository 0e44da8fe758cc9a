//! Summaries of repeated measurements: min, median and max, and ratios of two variants measured
//! in the same round. Only arithmetic; nothing here measures anything.

use std::fmt;

/// Min, median and max of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Median (the mean of the two middle values for an even count).
    pub median: f64,
    /// Largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Spread {
    /// The spread of the finite values, or `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            min: v[0],
            median,
            max: v[n - 1],
            n,
        })
    }

    /// Formats as `median (min–max)` with `decimals` digits after the point.
    pub fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.show(2))
    }
}

/// `a[i] / b[i]` for each round measured in both.
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// `Spread::of(values).show(decimals)`, or `n/a`.
pub fn show(values: &[f64], decimals: usize) -> String {
    Spread::of(values).map_or_else(|| "n/a".to_string(), |s| s.show(decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 2.5, 4.0, 4));
        let s = Spread::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!(s.median, 3.0);
    }

    #[test]
    fn non_finite_values_are_left_out_and_nothing_gives_none() {
        assert_eq!(Spread::of(&[f64::NAN, 2.0]).unwrap().n, 1);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(show(&[], 2), "n/a");
    }

    #[test]
    fn ratios_pair_values_of_the_same_round() {
        assert_eq!(ratios(&[2.0, 9.0], &[4.0, 3.0]), vec![0.5, 3.0]);
    }
}
