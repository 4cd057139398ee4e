//! Figures over repeated runs: the median with its min–max beside it, and
//! verdicts against a target judged on the median, given only from
//! [`MIN_RUNS`] runs on.

/// Fewer runs than this give figures, never a verdict.
pub const MIN_RUNS: usize = 3;

/// The median of some runs' figure, and how far the runs spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many runs gave the figure.
    pub runs: usize,
}

impl Spread {
    /// The spread of `values` (none without values; NaNs are left out).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        values.sort_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let mid = values.len() / 2;
        let median = if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        };
        Some(Self {
            median,
            min,
            max,
            runs: values.len(),
        })
    }

    /// The spread of `a ÷ b` run by run (pairs with `b` = 0 left out).
    pub fn of_ratios(pairs: impl IntoIterator<Item = (f64, f64)>) -> Option<Self> {
        Self::of(
            pairs
                .into_iter()
                .filter(|&(_, b)| b != 0.0)
                .map(|(a, b)| a / b),
        )
    }

    /// `3.55 (3.41–3.89)` with `decimals` decimals; the median alone when
    /// every run gave the same figure (or only one ran).
    pub fn show(&self, decimals: usize) -> String {
        let median = format!("{:.decimals$}", self.median);
        let (min, max) = (
            format!("{:.decimals$}", self.min),
            format!("{:.decimals$}", self.max),
        );
        if min == max {
            median
        } else {
            format!("{median} ({min}–{max})")
        }
    }
}

/// `spread` shown with `decimals`, or empty when not measured.
pub fn shown(spread: Option<Spread>, decimals: usize) -> String {
    spread.map(|s| s.show(decimals)).unwrap_or_default()
}

/// A target's verdict line, judged on the median of `figure` by `met`;
/// `shown` says what was measured. With fewer than [`MIN_RUNS`] runs, no
/// verdict; without a figure, "not measured" and why.
pub fn judge<E: std::fmt::Display>(
    target: &str,
    figure: Result<Spread, E>,
    met: impl Fn(f64) -> bool,
    shown: impl Fn(&Spread) -> String,
) -> String {
    match figure {
        Err(why) => format!("- {target}: **not measured** ({why})\n"),
        Ok(s) if s.runs < MIN_RUNS => format!(
            "- {target}: {} run{}, no verdict: {}\n",
            s.runs,
            if s.runs == 1 { "" } else { "s" },
            shown(&s)
        ),
        Ok(s) => super::verdict(target, met(s.median), shown(&s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd counts take the middle run, even counts the mean of the two
    /// middle ones; min and max are the extremes, in any order given.
    #[test]
    fn median_and_extremes() {
        let s = Spread::of([3.89, 3.41, 3.55]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (3.55, 3.41, 3.89, 3));
        let s = Spread::of([4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.5, 1.0, 4.0, 4));
        let s = Spread::of([7.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (7.0, 7.0, 7.0));
        assert_eq!(Spread::of([]), None);
        assert_eq!(Spread::of([f64::NAN, 2.0]).unwrap().runs, 1);
    }

    /// Ratios are taken run by run; a zero divisor is left out.
    #[test]
    fn ratios_run_by_run() {
        let s = Spread::of_ratios([(2.0, 1.0), (3.0, 2.0), (1.0, 0.0), (1.0, 1.0)]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (1.5, 1.0, 2.0, 3));
    }

    #[test]
    fn shown_with_its_spread() {
        assert_eq!(
            Spread::of([3.41, 3.55, 3.89]).unwrap().show(2),
            "3.55 (3.41–3.89)"
        );
        assert_eq!(Spread::of([0.0, 0.0, 5.0]).unwrap().show(0), "0 (0–5)");
        assert_eq!(Spread::of([10.0, 10.0, 10.0]).unwrap().show(2), "10.00");
        assert_eq!(shown(None, 2), "");
    }

    /// The median decides; too few runs give no verdict; no figure says so.
    #[test]
    fn verdicts_on_the_median() {
        let show = |s: &Spread| s.show(2);
        let under = |v: f64| v <= 3.0;
        let ok = Ok::<_, &str>;
        let s = Spread::of([2.9, 2.95, 3.4]).unwrap();
        assert_eq!(
            judge("≤ 3", ok(s), under, show),
            "- ≤ 3: **met** — 2.95 (2.90–3.40)\n"
        );
        let s = Spread::of([3.1, 3.2, 2.0]).unwrap();
        assert!(judge("≤ 3", ok(s), under, show).contains("**missed**"));
        let s = Spread::of([2.0]).unwrap();
        assert_eq!(
            judge("≤ 3", ok(s), under, show),
            "- ≤ 3: 1 run, no verdict: 2.00\n"
        );
        assert_eq!(
            judge("≤ 3", Err::<Spread, _>("no 10 VUs run"), under, show),
            "- ≤ 3: **not measured** (no 10 VUs run)\n"
        );
    }
}
