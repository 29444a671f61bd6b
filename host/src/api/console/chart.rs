//! Small bar charts of per-minute counts, drawn as SVG by the templates from the shapes
//! computed here (no script, nothing fetched).

use serde::Serialize;

/// A chart's shapes, in SVG user units.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// The largest value (the chart's full height).
    pub max: i64,
    pub total: i64,
}

/// One value's bar: from (`x`, `y`) `w` wide and `h` tall (y grows downwards).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub n: i64,
    /// How long before now its minute began, in minutes (0: the current minute).
    pub ago: usize,
}

/// `values` (oldest first) as bars filling `width` x `height`, scaled to the largest; a
/// value above 0 is at least 1 unit tall, so a single event shows.
pub fn bars(values: &[i64], width: u32, height: u32) -> Chart {
    let max = values.iter().copied().max().unwrap_or(0).max(0);
    let slots = u32::try_from(values.len()).unwrap_or(u32::MAX).max(1);
    let slot = (width / slots).max(1);
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let n = n.max(0);
            let h = if max == 0 || n == 0 {
                0
            } else {
                // n <= max, so the quotient is at most `height`.
                let scaled =
                    (i128::from(n) * i128::from(height) + i128::from(max) / 2) / i128::from(max);
                u32::try_from(scaled).unwrap_or(height).clamp(1, height)
            };
            Bar {
                x: u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(slot),
                y: height - h,
                w: slot.saturating_sub(1).max(1),
                h,
                n,
                ago: values.len() - 1 - i,
            }
        })
        .collect();
    Chart {
        width,
        height,
        bars,
        max,
        total: values.iter().map(|&v| v.max(0)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_largest_value_and_stand_on_the_baseline() {
        let c = bars(&[0, 5, 10], 30, 20);
        assert_eq!(c.max, 10);
        assert_eq!(c.total, 15);
        let heights: Vec<u32> = c.bars.iter().map(|b| b.h).collect();
        assert_eq!(heights, vec![0, 10, 20]);
        assert!(c.bars.iter().all(|b| b.y + b.h == 20));
        assert_eq!(
            c.bars.iter().map(|b| b.x).collect::<Vec<_>>(),
            vec![0, 10, 20]
        );
        assert_eq!(
            c.bars.iter().map(|b| b.ago).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
    }

    #[test]
    fn one_event_beside_many_still_shows_and_an_empty_chart_is_flat() {
        let c = bars(&[1, 100_000], 10, 40);
        assert_eq!(c.bars[0].h, 1);
        assert_eq!(c.bars[1].h, 40);
        let flat = bars(&[0, 0, 0], 30, 20);
        assert!(flat.bars.iter().all(|b| b.h == 0 && b.y == 20));
        assert_eq!(bars(&[], 30, 20).bars, vec![]);
    }
}
